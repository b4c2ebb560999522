// `docker cp` both ways and `docker export`. The daemon speaks tar (the archive endpoints); this side turns a path
// into a tar and back through the host's files (CliIO.files), renaming the top entry when the destination names a
// new file, as docker's client does. `-` stands for a tar on stdin or stdout.
import { createTarDecoder, createTarPacker, type ParsedTarEntry } from "modern-tar";
import type { DockerClient } from "./client.ts";
import { defineVerb } from "./command.ts";
import { CliError, DaemonError } from "./errors.ts";
import type { CliIO, HostFiles } from "./io.ts";

/** `container:path` splits at the first colon, unless the part before it looks like a path (docker's rule). */
function splitContainerPath(arg: string): { container?: string; path: string } {
  if (arg.startsWith("/") || arg.startsWith(".")) return { path: arg };
  const colon = arg.indexOf(":");
  if (colon <= 0) return { path: arg };
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

function dirname(path: string): string {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const slash = trimmed.lastIndexOf("/");
  return slash <= 0 ? "/" : trimmed.slice(0, slash);
}

function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

function absolute(cwd: string, path: string): string {
  const parts: string[] = [];
  for (const part of (path.startsWith("/") ? path : `${cwd}/${path}`).split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

/** The tar with its top entry `from` renamed `to` (and everything under it). */
export function renameTop(tar: ReadableStream<Uint8Array>, from: string, to: string): ReadableStream<Uint8Array> {
  if (from === to) return tar;
  const rename = (name: string) => {
    const bare = name.replace(/^\.\//, "");
    if (bare === from || bare === `${from}/`) return bare.replace(from, to);
    if (bare.startsWith(`${from}/`)) return `${to}${bare.slice(from.length)}`;
    return bare;
  };
  const { readable, controller } = createTarPacker();
  void (async () => {
    const entries = tar.pipeThrough(createTarDecoder()) as unknown as AsyncIterable<ParsedTarEntry>;
    for await (const entry of entries) {
      const header = { ...entry.header, name: rename(entry.header.name) };
      if (header.type === "link" && header.linkname) header.linkname = rename(header.linkname);
      await entry.body.pipeTo(controller.add(header));
    }
    controller.finalize();
  })().catch((error: unknown) => controller.error(error));
  return readable;
}

interface PathStat {
  name: string;
  mode: number;
}

const GO_DIR = 0x80000000;

function parseStat(header: string | null): PathStat | undefined {
  if (!header) return undefined;
  try {
    return JSON.parse(atob(header)) as PathStat;
  } catch {
    return undefined;
  }
}

function isDir(stat: PathStat): boolean {
  return (stat.mode & GO_DIR) !== 0 || stat.mode >= GO_DIR;
}

function noSuch(container: string, path: string): CliError {
  return new CliError(`Error: No such container:path: ${container}:${path}`);
}

async function containerStat(client: DockerClient, container: string, path: string): Promise<PathStat | undefined> {
  try {
    const response = await client.request("HEAD", `/containers/${encodeURIComponent(container)}/archive`, {
      query: { path },
      notFound: { object: "container", id: container },
    });
    await response.body?.cancel();
    return parseStat(response.headers.get("x-docker-container-path-stat"));
  } catch (error) {
    if (error instanceof DaemonError && error.httpStatus === 404 && !/No such container/i.test(error.daemonMessage))
      return undefined;
    throw error;
  }
}

function needFiles(io: CliIO, path: string): HostFiles {
  if (!io.files) {
    throw new CliError(`cannot reach ${path} from here: use - to copy a tar archive through stdin or stdout`);
  }
  return io.files;
}

async function fromContainer(
  client: DockerClient,
  io: CliIO,
  out: { write(data: Uint8Array): Promise<void> },
  container: string,
  source: string,
  destination: string,
) {
  let response: Response;
  try {
    response = await client.request("GET", `/containers/${encodeURIComponent(container)}/archive`, {
      query: { path: source },
      notFound: { object: "container", id: container },
    });
  } catch (error) {
    if (error instanceof DaemonError && error.httpStatus === 404 && !/No such container/i.test(error.daemonMessage)) {
      throw noSuch(container, source);
    }
    throw error;
  }
  const tar = response.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  if (destination === "-") {
    const reader = tar.getReader();
    for (let next = await reader.read(); !next.done; next = await reader.read()) await out.write(next.value);
    return;
  }
  const files = needFiles(io, destination);
  const target = absolute(io.cwd, destination);
  const stat = parseStat(response.headers.get("x-docker-container-path-stat"));
  const existing = await files.stat(target);
  if (existing?.isDirectory) return files.unpack(target, tar);
  if (destination.endsWith("/")) {
    await tar.cancel();
    throw new CliError(`destination directory ${destination} must exist`);
  }
  const parent = await files.stat(dirname(target));
  if (!parent?.isDirectory) {
    await tar.cancel();
    throw new CliError(`lstat ${dirname(target)}: no such file or directory`);
  }
  await files.unpack(dirname(target), renameTop(tar, stat?.name ?? basename(source), basename(target)));
}

async function toContainer(
  client: DockerClient,
  io: CliIO,
  container: string,
  source: string,
  destination: string,
  copyUIDGID: boolean,
) {
  const put = (path: string, tar: ReadableStream<Uint8Array>) =>
    client
      .stream("PUT", `/containers/${encodeURIComponent(container)}/archive`, tar, {
        query: { path, copyUIDGID: copyUIDGID || undefined },
        headers: { "content-type": "application/x-tar" },
        notFound: { object: "container", id: container },
      })
      .then((response) => response.body?.cancel());
  const target = await containerStat(client, container, destination);
  if (source === "-") {
    if (!target) throw noSuch(container, destination);
    if (!isDir(target)) throw new CliError(`Error response from daemon: extraction point is not a directory`);
    await put(destination, io.stdin);
    return;
  }
  const files = needFiles(io, source);
  const path = absolute(io.cwd, source);
  const local = await files.stat(path);
  if (!local) throw new CliError(`lstat ${path}: no such file or directory`);
  if (target && isDir(target)) {
    await put(destination, await files.pack(path));
    return;
  }
  if (target && local.isDirectory) throw new CliError("cannot copy directory to file");
  if (!target && destination.endsWith("/")) throw noSuch(container, destination);
  const parent = await containerStat(client, container, dirname(destination));
  if (!parent) throw noSuch(container, dirname(destination));
  await put(dirname(destination), renameTop(await files.pack(path), basename(path), basename(destination)));
}

export const cp = defineVerb(
  {
    name: "cp",
    usage: "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tdocker cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    summary: "Copy files/folders between a container and the local filesystem",
    args: { min: 2, max: 2 },
    flags: [
      { name: "archive", short: "a", type: "bool", help: "Archive mode (copy all uid/gid information)" },
      { name: "follow-link", short: "L", type: "bool", help: "Always follow symbol link in SRC_PATH" },
      { name: "quiet", short: "q", type: "bool", help: "Suppress progress output during copy." },
    ] as const,
  },
  async (context) => {
    const [from, to] = [splitContainerPath(context.args[0]!), splitContainerPath(context.args[1]!)];
    if (from.container && to.container) throw new CliError("copying between containers is not supported");
    if (!from.container && !to.container) {
      throw new CliError("must specify at least one container source");
    }
    const client = await context.client();
    if (from.container) {
      if (from.path === "") throw new CliError("error: path cannot be empty");
      await fromContainer(client, context.io, context.out, from.container, from.path, to.path);
    } else {
      if (to.path === "") throw new CliError("error: path cannot be empty");
      await toContainer(client, context.io, to.container!, from.path, to.path, context.flags.archive);
    }
    return 0;
  },
);

export const exportVerb = defineVerb(
  {
    name: "export",
    usage: "[OPTIONS] CONTAINER",
    summary: "Export a container's filesystem as a tar archive",
    args: { min: 1, max: 1 },
    flags: [{ name: "output", short: "o", type: "string", help: "Write to a file, instead of STDOUT" }] as const,
  },
  async (context) => {
    const container = context.args[0]!;
    if (context.flags.output) {
      throw new CliError(
        `cannot write ${context.flags.output} from here: redirect the output instead (docker export ${container} > ${context.flags.output})`,
      );
    }
    if (context.out.isTerminal)
      throw new CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    const client = await context.client();
    const response = await client.request("GET", `/containers/${encodeURIComponent(container)}/export`, {
      notFound: { object: "container", id: container },
    });
    if (!response.body) return 0;
    const reader = response.body.getReader();
    for (let next = await reader.read(); !next.done; next = await reader.read()) await context.out.write(next.value);
    return 0;
  },
);
