// `docker run`: create (pulling a missing image), attach before start, start, wait for the exit (or the removal,
// with --rm) and exit with the container's code. Failures read and exit as docker's do: 125 for the daemon or the
// options, 126 when the command cannot be invoked, 127 when it is not found. Signals go to the container
// (--sig-proxy, on by default) while the CLI waits for its exit; with -it the detach keys leave it running.
import {
  attachedSession,
  detachKeysOption,
  monitorTtySize,
  type StdinPipe,
  stdinPipe,
  withRawTerminal,
} from "./attach.ts";
import { defineVerb } from "./command.ts";
import { CONTAINER_FLAGS, containerConfig, createContainer } from "./container-options.ts";
import { CliError, CommandStopped, describeFailure } from "./errors.ts";
import { FlagError } from "./flags.ts";

/** docker's reportError: `docker: <message>.` and, for option errors, where to find help. */
export function reportRunError(message: string, verb: string, withHelp: boolean): string {
  let text = `docker: ${message.replace(/\.$/, "")}.`;
  if (withHelp) text += `\nSee 'docker ${verb} --help'.`;
  return text;
}

/**
 * docker's runStartContainerErr: 127 when the command is not there, 126 when it cannot be run, else 125.
 * @example
 * startFailureStatus('exec: "nope": executable file not found in $PATH'); // 127
 */
export function startFailureStatus(message: string): number {
  if (/executable file not found|no such file or directory|system cannot find the file specified/.test(message))
    return 127;
  if (message.includes("permission denied")) return 126;
  return 125;
}

export const run = defineVerb(
  {
    name: "run",
    usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
    summary: "Run a command in a new container",
    interspersed: false,
    args: { min: 1 },
    flags: [
      ...CONTAINER_FLAGS,
      { name: "detach", short: "d", type: "bool", help: "Run container in background and print container ID" },
      { name: "sig-proxy", type: "bool", default: true, help: "Proxy received signals to the process" },
      { name: "detach-keys", type: "string", help: "Override the key sequence for detaching a container" },
    ] as const,
  },
  async (context) => {
    const { flags, changed, io } = context;
    const [image, ...command] = context.args;
    let body: ReturnType<typeof containerConfig>;
    try {
      body = containerConfig(flags, changed, image!, command, io.env);
    } catch (error) {
      if (error instanceof FlagError) throw new CliError(reportRunError(error.message, "run", true), 125);
      throw error;
    }
    if (flags.detach) {
      if (flags.attach.length > 0) throw new CliError("Conflicting options: -a and -d");
      body.AttachStdin = body.AttachStdout = body.AttachStderr = body.StdinOnce = false;
    } else if (body.AttachStdin && body.Tty && !io.isTTY.stdin) {
      throw new CliError("the input device is not a TTY");
    }
    const detachKeys = detachKeysOption(flags["detach-keys"], 125);

    let id: string;
    try {
      id = await createContainer(context, body, flags.name, flags.pull, flags.platform);
    } catch (error) {
      // Ctrl-C during the pull, or nobody reading any more: nothing to report.
      if (error instanceof CommandStopped) throw error;
      const { message, status } = describeFailure(error);
      throw new CliError(reportRunError(message, "run", true), status === 125 ? 125 : startFailureStatus(message));
    }
    const client = await context.client();

    const attached = body.AttachStdin || body.AttachStdout || body.AttachStderr;
    let stdin: StdinPipe | undefined;
    let output: ReadableStream<Uint8Array> | undefined;
    if (attached) {
      // docker's CLI looks for the detach keys itself in a terminal session; the daemon is told them too.
      stdin = body.AttachStdin ? stdinPipe(io, body.Tty ? detachKeys : undefined) : undefined;
      output = await client.hijack("POST", `/containers/${id}/attach`, {
        query: {
          stream: true,
          stdin: body.AttachStdin,
          stdout: body.AttachStdout,
          stderr: body.AttachStderr,
          detachKeys: flags["detach-keys"] || undefined,
        },
        stdin: stdin?.stream,
      });
    }
    // Waiting starts before the start, so a container that exits at once is not missed (and --rm's removal too).
    const exited = client
      .json<{ StatusCode: number; Error?: { Message: string } | null }>("POST", `/containers/${id}/wait`, {
        query: { condition: body.HostConfig.AutoRemove ? "removed" : "next-exit" },
      })
      .then(
        (result) => (result.Error?.Message ? 125 : result.StatusCode),
        () => 125,
      );

    return withRawTerminal(io, body.Tty && body.AttachStdin && io.isTTY.stdin, async () => {
      try {
        await client.call("POST", `/containers/${id}/start`);
      } catch (error) {
        await stdin?.stop();
        await output?.cancel().catch(() => {});
        const { message } = describeFailure(error);
        if (body.HostConfig.AutoRemove) await exited;
        throw new CliError(reportRunError(message, "run", false), startFailureStatus(message));
      }
      let stopResizing = () => {};
      if (attached && body.Tty && context.out.isTerminal) {
        stopResizing = monitorTtySize(io, (size) =>
          client.call("POST", `/containers/${id}/resize`, { query: { h: size.rows, w: size.cols } }),
        );
      }
      try {
        if (!attached) {
          await context.out.line(id);
          return 0;
        }
        const proxy = flags["sig-proxy"] ? { client, id } : undefined;
        const code = await attachedSession(context, output!, { tty: body.Tty, stdin, proxy }, () => exited);
        // Detached: docker says nothing and leaves the container running.
        return code === "detached" ? 0 : code;
      } finally {
        stopResizing();
      }
    });
  },
);
