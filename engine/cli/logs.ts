// `docker logs`: what a container wrote, from the daemon's log (demultiplexed unless the container has a tty).
// `-f` follows until Ctrl-C, which ends it at once (exit 130) and lets go of the daemon's stream.
import { copyOutput } from "./attach.ts";
import { defineVerb } from "./command.ts";
import { interruptible } from "./signals.ts";

/** The flags `docker logs` and `docker service logs` share, with docker's words. */
export const LOG_FLAGS = [
  { name: "details", type: "bool", help: "Show extra details provided to logs" },
  { name: "follow", short: "f", type: "bool", help: "Follow log output" },
  {
    name: "since",
    type: "string",
    help: "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)",
  },
  {
    name: "tail",
    short: "n",
    type: "string",
    default: "all",
    help: "Number of lines to show from the end of the logs",
  },
  { name: "timestamps", short: "t", type: "bool", help: "Show timestamps" },
] as const;

export const logs = defineVerb(
  {
    name: "logs",
    usage: "[OPTIONS] CONTAINER",
    summary: "Fetch the logs of a container",
    args: { min: 1, max: 1 },
    flags: [
      ...LOG_FLAGS,
      {
        name: "until",
        type: "string",
        help: "Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)",
      },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    const name = context.args[0]!;
    const client = await context.client();
    const details = await client.json<{ Id: string; Config: { Tty: boolean } }>(
      "GET",
      `/containers/${encodeURIComponent(name)}/json`,
      { notFound: { object: "container", id: name } },
    );
    const response = await client.request("GET", `/containers/${details.Id}/logs`, {
      query: {
        stdout: true,
        stderr: true,
        follow: flags.follow || undefined,
        timestamps: flags.timestamps || undefined,
        details: flags.details || undefined,
        tail: flags.tail,
        since: flags.since || undefined,
        until: flags.until || undefined,
      },
      notFound: { object: "container", id: name },
    });
    if (response.body) {
      await copyOutput(context, interruptible(context.io, response.body), { tty: details.Config.Tty });
    }
    return 0;
  },
);
