// `docker build`: the context directory as a tar (read by the host the CLI runs in: Node's filesystem, or the
// guest's own for `docker build .` typed in its terminal), sent to `POST /build`; the daemon's classic-builder lines
// are printed as they come. `-` reads the context tar from stdin.
import { humanSize } from "../conventions/index.ts";
import { defineVerb } from "./command.ts";
import { CliError } from "./errors.ts";
import { type JsonMessage, JsonMessageError, jsonLines } from "./jsonmessage.ts";

/** `NAME=value` list → object; a bare NAME takes its value from the environment, as docker does. */
function keyValues(list: string[], env: Record<string, string>): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const item of list) {
    const eq = item.indexOf("=");
    if (eq < 0) out[item] = env[item] ?? null;
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** A path without `.`, `..` or doubled slashes, relative to the root. */
function cleanPath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== "" && part !== ".") parts.push(part);
  }
  return parts.join("/");
}

const absolute = (cwd: string, path: string) => (path.startsWith("/") ? path : `${cwd.replace(/\/$/, "")}/${path}`);

export const build = defineVerb(
  {
    name: "build",
    usage: "[OPTIONS] PATH | URL | -",
    summary: "Build an image from a Dockerfile",
    args: { min: 1, max: 1 },
    flags: [
      { name: "build-arg", type: "list", help: "Set build-time variables" },
      { name: "file", short: "f", type: "string", help: "Name of the Dockerfile (Default is 'PATH/Dockerfile')" },
      { name: "iidfile", type: "string", help: "Write the image ID to the file" },
      { name: "label", type: "list", help: "Set metadata for an image" },
      { name: "no-cache", type: "bool", help: "Do not use cache when building the image" },
      { name: "platform", type: "string", help: "Set platform if server is multi-platform capable" },
      { name: "pull", type: "bool", help: "Always attempt to pull a newer version of the image" },
      { name: "quiet", short: "q", type: "bool", help: "Suppress the build output and print image ID on success" },
      { name: "rm", type: "bool", default: true, help: "Remove intermediate containers after a successful build" },
      { name: "tag", short: "t", type: "list", help: "Name and optionally a tag in the 'name:tag' format" },
      { name: "target", type: "string", help: "Set the target build stage to build." },
    ] as const,
  },
  async (context) => {
    const { io, flags } = context;
    const path = context.args[0]!;
    if (/^(https?|git):\/\//.test(path) || path.startsWith("git@")) {
      throw new CliError(
        `unable to prepare context: building from ${path} needs the network; clone it and build the directory`,
      );
    }
    let body: ReadableStream<Uint8Array>;
    let dockerfile = flags.file || "Dockerfile";
    if (path === "-") {
      body = io.stdin;
    } else {
      if (!io.readDirectory) {
        throw new CliError(
          "unable to prepare context: this terminal cannot read a directory; build in the guest's terminal, or send a context tar on stdin (docker build - < context.tar)",
        );
      }
      const dir = absolute(io.cwd, path);
      if (flags.file) {
        // -f names the Dockerfile from where the command runs; the daemon wants its path inside the context.
        const file = `/${cleanPath(absolute(io.cwd, flags.file))}`;
        const root = `/${cleanPath(dir)}`;
        if (!file.startsWith(`${root === "/" ? "" : root}/`)) {
          throw new CliError(
            `unable to prepare context: the Dockerfile (${flags.file}) must be within the build context (${path})`,
          );
        }
        dockerfile = file.slice(root.length + (root === "/" ? 0 : 1));
      }
      const tar = new Uint8Array(await new Response(await io.readDirectory(dir)).arrayBuffer());
      if (!flags.quiet) await context.out.line(`Sending build context to Docker daemon  ${humanSize(tar.byteLength)}`);
      body = new Blob([tar]).stream();
    }
    const client = await context.client();
    const response = await client.stream("POST", "/build", body, {
      query: {
        t: flags.tag,
        dockerfile,
        q: flags.quiet ? "1" : undefined,
        nocache: flags["no-cache"] ? "1" : undefined,
        pull: flags.pull ? "1" : undefined,
        rm: flags.rm ? "1" : "0",
        buildargs: JSON.stringify(keyValues(flags["build-arg"], io.env)),
        labels: JSON.stringify(keyValues(flags.label, io.env)),
        target: flags.target || undefined,
        platform: flags.platform || undefined,
        version: "1",
      },
      headers: { "content-type": "application/x-tar" },
    });
    let id: string | undefined;
    if (!response.body) throw new CliError("the daemon sent no build output");
    try {
      for await (const value of jsonLines(response.body)) {
        const message = value as JsonMessage;
        if (message.errorDetail || message.error) {
          throw new JsonMessageError(message.errorDetail?.message ?? message.error ?? "unknown error");
        }
        const aux = message.aux as { ID?: string } | undefined;
        if (aux?.ID) id = aux.ID;
        if (message.stream && !flags.quiet) await context.out.write(message.stream);
      }
    } catch (error) {
      if (error instanceof JsonMessageError) throw new CliError(error.message);
      throw error;
    }
    if (id === undefined) throw new CliError("the build ended without an image ID");
    if (flags.quiet) await context.out.line(id);
    if (flags.iidfile) {
      if (!io.writeFile) throw new CliError(`cannot write ${flags.iidfile} from here`);
      await io.writeFile(absolute(io.cwd, flags.iidfile), id);
    }
    return 0;
  },
);
