// `drydock workspace export|import --data-root DIR`: a data root's images, volumes and containers as one tar on
// stdout, or such a tar from stdin written into a data root (see engine/workspace).

import { join } from "node:path";
import { type Readable, Writable } from "node:stream";
import { parseArgs } from "node:util";
import { exportWorkspace, importWorkspace, type WorkspaceStores } from "../workspace/index.ts";
import { FsContentStore, FsMetadataStore } from "./content-fs.ts";
import { DEFAULT_DATA_ROOT } from "./daemon.ts";
import { lockDataRoot } from "./data-root-lock.ts";
import { nodeHasherFactory } from "./hash.ts";
import { FsVolumeDataStore } from "./volume-data.ts";

/** The stores a Node daemon keeps under its data root. */
export async function openDataRootStores(root: string): Promise<WorkspaceStores> {
  return {
    content: await FsContentStore.open(join(root, "content"), { hashers: nodeHasherFactory }),
    metadata: await FsMetadataStore.open(join(root, "metadata")),
    volumes: new FsVolumeDataStore(join(root, "volumes")),
  };
}

const USAGE =
  "drydock workspace export --data-root DIR > file.tar   |   drydock workspace import --data-root DIR < file.tar (daemon stopped)";

/** Runs `drydock workspace …`; resolves with the exit code. */
export async function workspaceCommand(
  args: string[],
  io: { stdin: NodeJS.ReadableStream; stdout: NodeJS.WritableStream; stderr: (line: string) => void },
): Promise<number> {
  const [action, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    options: { "data-root": { type: "string", default: DEFAULT_DATA_ROOT } },
  });
  const root = values["data-root"];
  if (action !== "export" && action !== "import") throw new Error(`workspace wants export or import: ${USAGE}`);
  // An import writes the data root underneath whoever uses it: refused while a daemon holds it.
  const lock = action === "import" ? await lockDataRoot(root, "drydock workspace import") : undefined;
  const stores = await openDataRootStores(root).catch(async (error: unknown) => {
    await lock?.release();
    throw error;
  });
  try {
    if (action === "export") {
      if ("isTTY" in io.stdout && io.stdout.isTTY) {
        throw new Error("the workspace is a tar file: send it to a file (drydock workspace export > work.tar)");
      }
      await (await exportWorkspace(stores)).pipeTo(Writable.toWeb(io.stdout as Writable));
      return 0;
    }
    if ("isTTY" in io.stdin && io.stdin.isTTY) {
      throw new Error("give the workspace file on stdin (drydock workspace import < work.tar)");
    }
    const input = io.stdin as Readable;
    // Read stdin as it is pulled (ReadableStream.from over its async iterator), not pushed through Readable.toWeb:
    // that adapter enqueues every chunk the socket emits, and one that arrives after an import refused part way has
    // cancelled the stream throws "Controller is already closed" out of the event loop.
    const body = ReadableStream.from(input as AsyncIterable<Uint8Array>) as ReadableStream<Uint8Array>;
    const summary = await importWorkspace(body, stores, { hashers: nodeHasherFactory }).finally(() => input.destroy());
    io.stderr(
      `drydock: imported into ${root}: ${summary.images.length} image(s), ${summary.volumes.length} volume(s) ${summary.volumes.join(" ")}, ${summary.containers.length} container(s) ${summary.containers.join(" ")}`,
    );
    if (summary.skipped.length > 0)
      io.stderr(`drydock: already there, kept as they were: ${summary.skipped.join(", ")}`);
    return 0;
  } finally {
    await stores.volumes.close();
    await lock?.release();
  }
}
