// `docker login` and `docker logout`. The credentials go to the daemon (POST /auth), which checks them with the
// registry; Drydock's engine then holds them in memory for its pulls and pushes until it stops or `docker logout`.
// Nothing is written to a config file, so no page script or guest process can read them back.
import { defineVerb } from "./command.ts";
import { CliError } from "./errors.ts";

/** Reads one line of stdin (the terminal's, or a pipe's); hides what is typed when `hidden`. */
async function readLine(
  context: { io: { stdin: ReadableStream<Uint8Array>; setRawMode(raw: boolean): Promise<void> } },
  hidden: boolean,
): Promise<string> {
  const reader = context.io.stdin.getReader();
  const decoder = new TextDecoder();
  let text = "";
  if (hidden) await context.io.setRawMode(true);
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      text += decoder.decode(next.value, { stream: true });
      const end = text.search(/[\r\n]/);
      if (end !== -1) {
        text = text.slice(0, end);
        break;
      }
      if (hidden && text.includes("\u0003")) throw new CliError("", 130);
    }
  } finally {
    if (hidden) await context.io.setRawMode(false);
    reader.releaseLock();
  }
  return text;
}

/** Reads all of stdin (`--password-stdin`), without the trailing newline, as docker does. */
async function readAll(stdin: ReadableStream<Uint8Array>): Promise<string> {
  const text = await new Response(stdin).text();
  return text.replace(/\r?\n$/, "");
}

export const login = defineVerb(
  {
    name: "login",
    usage: "[OPTIONS] [SERVER]",
    summary: "Log in to a Docker registry",
    args: { max: 1 },
    flags: [
      { name: "password", short: "p", type: "string", help: "Password" },
      { name: "password-stdin", type: "bool", help: "Take the password from stdin" },
      { name: "username", short: "u", type: "string", help: "Username" },
    ] as const,
  },
  async (context) => {
    const server = context.args[0];
    let username = context.flags.username ?? "";
    let password = context.flags.password ?? "";
    if (context.changed.has("password")) {
      await context.err.line("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
      if (context.flags["password-stdin"]) throw new CliError("--password and --password-stdin are mutually exclusive");
    }
    if (context.flags["password-stdin"]) {
      if (!username) throw new CliError("Must provide --username with --password-stdin");
      password = await readAll(context.io.stdin);
    }
    if (!username || !password) {
      if (!context.io.isTTY.stdin) throw new CliError("Cannot perform an interactive login from a non TTY device");
      if (!username) {
        await context.out.write("Username: ");
        username = (await readLine(context, false)).trim();
        if (!username) throw new CliError("Username is required");
      }
      await context.out.write("Password: ");
      password = await readLine(context, true);
      await context.out.write("\n");
      if (!password) throw new CliError("Password is required");
    }
    const client = await context.client();
    const answer = await client.json<{ Status?: string }>("POST", "/auth", {
      body: { username, password, serveraddress: server ?? "" },
    });
    await context.out.line(answer?.Status || "Login Succeeded");
    return 0;
  },
);

export const logout = defineVerb(
  {
    name: "logout",
    usage: "[SERVER]",
    summary: "Log out from a Docker registry",
    args: { max: 1 },
    flags: [] as const,
  },
  async (context) => {
    const server = context.args[0] ?? "docker.io";
    const client = await context.client();
    const answer = await client
      .json<{ Status?: string }>("DELETE", "/auth", { query: { serveraddress: server } })
      .catch(() => ({ Status: "Not logged in" }));
    await context.out.line(
      answer?.Status === "Removed login credentials"
        ? `Removing login credentials for ${server}`
        : `Not logged in to ${server}`,
    );
    return 0;
  },
);
