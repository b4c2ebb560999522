// `docker start`: start stopped containers; with -a (one container) stay attached and exit with its code, passing
// signals on to a container without a tty as docker does, and leaving it running on the detach keys.
import { attachedSession, detachKeysOption, monitorTtySize, stdinPipe, withRawTerminal } from "./attach.ts";
import { defineVerb } from "./command.ts";
import { CliError, describeFailure } from "./errors.ts";

interface ContainerDetails {
  Id: string;
  Config: { Tty: boolean; OpenStdin: boolean };
  HostConfig?: { AutoRemove?: boolean };
}

export const start = defineVerb(
  {
    name: "start",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    summary: "Start one or more stopped containers",
    args: { min: 1 },
    flags: [
      { name: "attach", short: "a", type: "bool", help: "Attach STDOUT/STDERR and forward signals" },
      { name: "interactive", short: "i", type: "bool", help: "Attach container's STDIN" },
      { name: "detach-keys", type: "string", help: "Override the key sequence for detaching a container" },
    ] as const,
  },
  async (context) => {
    const { flags, io } = context;
    const client = await context.client();
    if (flags.attach || flags.interactive) {
      if (context.args.length > 1) throw new CliError("you cannot start and attach multiple containers at once");
      const name = context.args[0]!;
      const details = await client.json<ContainerDetails>("GET", `/containers/${encodeURIComponent(name)}/json`, {
        notFound: { object: "container", id: name },
      });
      const tty = details.Config.Tty;
      const withStdin = flags.interactive && details.Config.OpenStdin;
      if (withStdin && tty && !io.isTTY.stdin) throw new CliError("the input device is not a TTY");
      const detachKeys = detachKeysOption(flags["detach-keys"]);
      const stdin = withStdin ? stdinPipe(io, tty ? detachKeys : undefined) : undefined;
      const output = await client.hijack("POST", `/containers/${details.Id}/attach`, {
        query: {
          stream: true,
          stdin: withStdin,
          stdout: true,
          stderr: true,
          detachKeys: flags["detach-keys"] || undefined,
        },
        stdin: stdin?.stream,
      });
      const exited = client
        .json<{ StatusCode: number }>("POST", `/containers/${details.Id}/wait`, {
          query: { condition: details.HostConfig?.AutoRemove ? "removed" : "next-exit" },
        })
        .then(
          (result) => result.StatusCode,
          () => 125,
        );
      return withRawTerminal(io, tty && withStdin && io.isTTY.stdin, async () => {
        try {
          await client.call("POST", `/containers/${details.Id}/start`);
        } catch (error) {
          await stdin?.stop();
          await output.cancel().catch(() => {});
          throw error;
        }
        const stopResizing =
          tty && context.out.isTerminal
            ? monitorTtySize(io, (size) =>
                client.call("POST", `/containers/${details.Id}/resize`, { query: { h: size.rows, w: size.cols } }),
              )
            : () => {};
        try {
          // docker's start proxies signals only to a container without a tty.
          const proxy = tty ? undefined : { client, id: details.Id };
          const code = await attachedSession(context, output, { tty, stdin, proxy }, () => exited);
          return code === "detached" ? 0 : code;
        } finally {
          stopResizing();
        }
      });
    }
    const failed: string[] = [];
    for (const name of context.args) {
      try {
        await client.call("POST", `/containers/${encodeURIComponent(name)}/start`);
        await context.out.line(name);
      } catch (error) {
        await context.err.line(describeFailure(error).message);
        failed.push(name);
      }
    }
    if (failed.length > 0) throw new CliError(`Error: failed to start containers: ${failed.join(", ")}`);
    return 0;
  },
);
