/* The programs drydockd also is, chosen by the name it is started under (like busybox): /usr/bin/docker and
 * /usr/bin/curl are symlinks to /sbin/drydockd. */
#ifndef DRYDOCK_APPLETS_H
#define DRYDOCK_APPLETS_H

/* docker.c: relays the command line, stdio, terminal and signals to the engine's CLI (PROTOCOL.md, "The docker
 * relay"). */
int docker_main(int argc, char **argv);

/* curl.c: a small HTTP/1.1 client, over a unix socket or TCP, for the REST lesson. */
int curl_main(int argc, char **argv);

#endif
