// `docker exec`: a new process in a running container (POST /containers/{id}/exec, then /exec/{id}/start hijacked,
// then /exec/{id}/json for its exit code), interactive with -it like `docker run -it`. docker does not pass signals
// to an exec: Ctrl-C ends the CLI (exit 130) and the process goes on; the detach keys say "read escape sequence".
import { attachedSession, detachKeysOption, monitorTtySize, stdinPipe, withRawTerminal } from "./attach.ts";
import { defineVerb } from "./command.ts";
import { CliError } from "./errors.ts";

export const exec = defineVerb(
  {
    name: "exec",
    usage: "[OPTIONS] CONTAINER COMMAND [ARG...]",
    summary: "Run a command in a running container",
    interspersed: false,
    args: { min: 2 },
    flags: [
      { name: "detach", short: "d", type: "bool", help: "Detached mode: run command in the background" },
      { name: "detach-keys", type: "string", help: "Override the key sequence for detaching a container" },
      { name: "env", short: "e", type: "list", help: "Set environment variables" },
      { name: "interactive", short: "i", type: "bool", help: "Keep STDIN open even if not attached" },
      { name: "privileged", type: "bool", help: "Give extended privileges to the command" },
      { name: "tty", short: "t", type: "bool", help: "Allocate a pseudo-TTY" },
      { name: "user", short: "u", type: "string", help: "Username or UID (format: <name|uid>[:<group|gid>])" },
      { name: "workdir", short: "w", type: "string", help: "Working directory inside the container" },
    ] as const,
  },
  async (context) => {
    const { flags, io } = context;
    const [container, ...command] = context.args;
    const env: string[] = [];
    for (const entry of flags.env) {
      if (entry.includes("=")) env.push(entry);
      else if (entry in io.env) env.push(`${entry}=${io.env[entry]}`);
    }
    const attachStdin = flags.interactive && !flags.detach;
    if (attachStdin && flags.tty && !io.isTTY.stdin) throw new CliError("the input device is not a TTY");
    const detachKeys = detachKeysOption(flags["detach-keys"]);
    const client = await context.client();
    const created = await client.json<{ Id: string }>("POST", `/containers/${encodeURIComponent(container!)}/exec`, {
      body: {
        User: flags.user,
        Privileged: flags.privileged,
        Tty: flags.tty,
        AttachStdin: attachStdin,
        AttachStdout: !flags.detach,
        AttachStderr: !flags.detach,
        Detach: flags.detach,
        Env: env,
        WorkingDir: flags.workdir,
        Cmd: command,
        DetachKeys: flags["detach-keys"],
      },
    });
    if (flags.detach) {
      await client.call("POST", `/exec/${created.Id}/start`, { body: { Detach: true, Tty: flags.tty } });
      return 0;
    }
    const stdin = attachStdin ? stdinPipe(io, flags.tty ? detachKeys : undefined) : undefined;
    return withRawTerminal(io, flags.tty && attachStdin && io.isTTY.stdin, async () => {
      const output = await client.hijack("POST", `/exec/${created.Id}/start`, {
        body: { Detach: false, Tty: flags.tty },
        stdin: stdin?.stream,
      });
      const stopResizing =
        flags.tty && context.out.isTerminal
          ? monitorTtySize(io, (size) =>
              client.call("POST", `/exec/${created.Id}/resize`, { query: { h: size.rows, w: size.cols } }),
            )
          : () => {};
      const exitCode = async () => {
        const inspected = await client.json<{ ExitCode: number | null }>("GET", `/exec/${created.Id}/json`);
        return inspected.ExitCode ?? 0;
      };
      try {
        const code = await attachedSession(context, output, { tty: flags.tty, stdin }, exitCode);
        // docker's exec returns the escape as its error: it prints it and fails.
        if (code === "detached") throw new CliError("read escape sequence");
        return code;
      } finally {
        stopResizing();
      }
    });
  },
);
