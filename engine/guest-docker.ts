// Docker inside the guest: its /var/run/docker.sock answers the Engine API, so a learner's `curl --unix-socket` (and
// any client in the guest) reaches the engine; and the guest's `docker` command (a drydockd applet) relays its
// argv, stdio and terminal over /run/drydock/cli.sock to the engine's CLI, which calls the same API app in process.
// The engine's own registry (`localhost:5000`, engine/distribution) answers its distribution API on
// /run/drydock/registry.sock, so the guest's shell can ask it what was pushed (`curl --unix-socket … /v2/_catalog`).
// drydockd forwards each connection to those sockets over the agent link.
import { type ApiOptions, createApiApp, requestBodyLimit } from "./api/index.ts";
import type { ApiConnector, ApiTransport, CliIO, HostFiles } from "./cli/index.ts";
import { runCli } from "./cli/index.ts";
import { serveCliRelay } from "./cli/relay.ts";
import type { ContainerService } from "./container-service.ts";
import type { Drydock } from "./drydock.ts";
import { EngineError } from "./errors.ts";
import { type HttpExchange, type HttpLimits, isRawStream, QUIET_HEADER, serveHttpConnection } from "./http/index.ts";
import type { ImageService } from "./image-service.ts";

/** Where the guest's Docker socket is. */
export const GUEST_DOCKER_SOCKET = "/var/run/docker.sock";
/** Where the guest's `docker` command reaches the engine's CLI. */
export const GUEST_CLI_SOCKET = "/run/drydock/cli.sock";
/** Where the guest's shell reaches the engine's own registry (the one `docker push localhost:5000/…` fills). */
export const GUEST_REGISTRY_SOCKET = "/run/drydock/registry.sock";

export interface GuestDockerOptions {
  images: ImageService;
  /** Without one, container operations answer 503 (no guest to run them). */
  containers?: ContainerService;
  /** Called for every request answered on the socket: what the trace shows (`GET /v1.43/containers/json → 200`). */
  onExchange?: (exchange: HttpExchange) => void;
  /** Overrides of the socket's HTTP time and size limits (`DEFAULT_HTTP_LIMITS`, the API's body limits). */
  httpLimits?: Partial<HttpLimits>;
  /**
   * Whom the guest's `docker` talks to: without it, this engine's API whatever is named; with it, the daemon that
   * `--context`, `-H`, DOCKER_HOST or the current context names (the page's nodes), `local` being this engine's.
   */
  connector?: (local: ApiTransport) => ApiConnector;
  /**
   * Other commands the same applet relays: a guest script that sets DRYDOCK_TOOL=<name> and runs `docker "$@"`
   * reaches `tools[name]` with its arguments and terminal (the page's `drydock node add`).
   */
  tools?: Record<string, (argv: string[], io: CliIO) => Promise<number>>;
  /** The swarm's manager and this node's name in it, or the link to where the managers are (ApiOptions). */
  swarm?: ApiOptions["swarm"];
  swarmLink?: ApiOptions["swarmLink"];
}

/** What serveDockerInGuest set up; the sockets live as long as the guest. */
export interface GuestDocker {
  /** The Engine API app answering the sockets, to call in process (`app.fetch(request)`). */
  fetch(request: Request): Promise<Response>;
}

/**
 * Makes the guest's `/var/run/docker.sock` answer the Docker Engine API and its `docker` command run the engine's CLI.
 * @example
 * const drydock = await Drydock.boot(options);
 * const containers = ContainerService.open(drydock, images);
 * await serveDockerInGuest(drydock, { images, containers });
 * // in the guest: docker run --rm busybox echo hi
 * //               curl --unix-socket /var/run/docker.sock http://localhost/containers/json
 * //               curl --unix-socket /run/drydock/registry.sock http://localhost:5000/v2/_catalog
 */
export async function serveDockerInGuest(drydock: Drydock, options: GuestDockerOptions): Promise<GuestDocker> {
  const app = createApiApp({
    images: options.images,
    containers: options.containers,
    ...(options.swarm ? { swarm: options.swarm } : {}),
    ...(options.swarmLink ? { swarmLink: options.swarmLink } : {}),
  });
  const registry = options.images.registry;
  const fetch = async (request: Request) => app.fetch(request);
  // A check's requests are neither traced nor do they trace the engine steps they cause (its docker exec).
  const checkTransport = (request: Request) => {
    const quiet = new Request(request, { headers: new Headers(request.headers) });
    quiet.headers.set(QUIET_HEADER, "1");
    return fetch(quiet);
  };
  // The guest's docker calls the API in process (no HTTP framing), yet its requests are traced like the socket's.
  const cliTransport = async (request: Request) => {
    const response = await fetch(request);
    const url = new URL(request.url);
    options.onExchange?.({
      method: request.method,
      target: `${url.pathname}${url.search}`,
      status: response.status,
      upgraded: response.ok && isRawStream(response),
    });
    return response;
  };
  await Promise.all([
    drydock.agent.mkdir("/var/run", { parents: true }),
    drydock.agent.mkdir("/run/drydock", { parents: true }),
  ]);
  await Promise.all([
    drydock.agent.listen(GUEST_DOCKER_SOCKET, (connection) => {
      void serveHttpConnection(connection, fetch, {
        onExchange: options.onExchange,
        limits: { maxBodyBytes: requestBodyLimit, ...options.httpLimits },
      });
    }),
    drydock.agent.listen(GUEST_CLI_SOCKET, (connection) => {
      // A lesson's checks (DRYDOCK_CHECK=1) poll every few seconds: their requests would drown the learner's.
      void serveCliRelay(
        connection,
        async (argv, io) => {
          const tool = io.env.DRYDOCK_TOOL;
          if (tool) {
            const run = options.tools?.[tool];
            if (run) return run(argv, io);
            const writer = io.stderr.getWriter();
            await writer.write(new TextEncoder().encode(`${tool}: this engine has no such command\n`));
            writer.releaseLock();
            return 127;
          }
          const local = io.env.DRYDOCK_CHECK ? checkTransport : cliTransport;
          return runCli(
            argv,
            { ...io, files: guestFiles(drydock.agent) },
            options.connector ? options.connector(local) : local,
          );
        },
        {
          readDirectory: (path) => guestDirectoryTar(drydock, path),
          writeFile: (path, text) => drydock.agent.writeFile(path, text),
        },
      );
    }),
    ...(registry
      ? [
          drydock.agent.listen(GUEST_REGISTRY_SOCKET, (connection) => {
            void serveHttpConnection(connection, registry.fetch);
          }),
        ]
      : []),
  ]);
  return { fetch };
}

/**
 * A directory of the guest as a tar stream (`docker build .` typed in the guest's terminal): busybox tar run in the
 * guest's own root, where the learner's files are. A directory that is not there fails with tar's words.
 */
async function guestDirectoryTar(drydock: Drydock, path: string): Promise<ReadableStream<Uint8Array>> {
  const stat = await drydock.agent.stat(path).catch(() => undefined);
  if (!stat?.isDirectory) {
    throw new EngineError("invalidArgument", `unable to prepare context: path "${path}" not found`);
  }
  const proc = await drydock.agent.spawn({ argv: ["/bin/busybox", "tar", "-c", "-f", "-", "-C", path, "."] });
  void proc.stderr.cancel().catch(() => {});
  return proc.stdout;
}

/**
 * The guest's own files for its `docker` command (`docker cp` from and to the guest's shell), as busybox tar in the
 * guest makes and extracts them, so owners, modes and symlinks are kept.
 */
function guestFiles(agent: Drydock["agent"]): HostFiles {
  const slash = (path: string) => path.lastIndexOf("/");
  return {
    stat: async (path) => {
      try {
        const stat = await agent.stat(path);
        return { isDirectory: stat.isDirectory };
      } catch {
        return undefined;
      }
    },
    pack: async (path) => {
      const dir = path.slice(0, slash(path)) || "/";
      const process = await agent.spawn({
        argv: ["/bin/busybox", "tar", "-c", "-f", "-", "-C", dir, path.slice(slash(path) + 1)],
      });
      await process.stdin.close().catch(() => {});
      void process.stderr.cancel().catch(() => {});
      return process.stdout;
    },
    unpack: async (dir, tar) => {
      const process = await agent.spawn({ argv: ["/bin/busybox", "tar", "-x", "-f", "-", "-C", dir] });
      const feeding = tar.pipeTo(process.stdin).catch(() => {});
      const [stderr, exit] = await Promise.all([
        new Response(process.stderr).text(),
        process.exit,
        new Response(process.stdout).text(),
        feeding,
      ]);
      if (exit.code !== 0)
        throw new Error(`could not extract into ${dir}: ${stderr.trim() || `tar exited ${exit.code}`}`);
    },
  };
}
