// A workspace: everything an engine keeps (images, volumes, containers with their logs and files) as one tar, to hand
// a class a prepared starting point or keep one's work. Export reads the stores; import writes what the target is
// missing, verifies every blob by digest, and cleans up on failure: blobs, volume files and container documents it
// wrote are removed again, and the documents that make them visible (volume trees, images.json, containers.json)
// are written only once every member has arrived and checked out.
import { createTarDecoder, createTarPacker, type ParsedTarEntry } from "modern-tar";
import { type ContentStore, hasContent, type MetadataStore } from "../content/index.ts";
import { EngineError } from "../errors.ts";
import {
  type Digest,
  type DigestAlgorithm,
  defaultHasherFactory,
  digestOf,
  type HasherFactory,
  parseJson,
} from "../oci/index.ts";
import {
  CONTAINERS_DOCUMENT,
  type ContainerRecord,
  decodeContainerRecords,
  encodeContainerRecords,
} from "../runtime/records.ts";
import { LOG_SLOTS, logDocumentName } from "../runtime/saved-logs.ts";
import { upperLayerDocument } from "../runtime/upper-layer.ts";
import type { VolumeDataStore } from "../volumes/index.ts";
import {
  MANIFEST_NAME,
  memberName,
  parseWorkspaceManifest,
  WORKSPACE_FORMAT,
  WORKSPACE_VERSION,
  type WorkspaceManifest,
} from "./manifest.ts";

export { parseWorkspaceManifest, type WorkspaceManifest } from "./manifest.ts";

const IMAGES_DOCUMENT = "images.json";
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const READ_CHUNK = 1 << 20;

/** The stores of one engine: its content and metadata stores and its volume data. */
export interface WorkspaceStores {
  content: ContentStore;
  metadata: MetadataStore;
  volumes: VolumeDataStore;
}

type SavedInode = [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  unknown,
  unknown,
  Record<string, number> | null,
  number,
];
interface SavedTree {
  version: 1;
  root: number;
  inodes: SavedInode[];
  info?: unknown;
}

const parseTree = (bytes: Uint8Array, volume: string): SavedTree => {
  const tree = parseJson(bytes, `volume ${volume}'s tree`) as SavedTree;
  if (tree?.version !== 1 || !Array.isArray(tree.inodes)) {
    throw new EngineError("invalidArgument", `volume ${volume}'s tree document is not in a format Drydock knows`);
  }
  return tree;
};

/** Moves every inode but the volumes' root (1) up by `offset`, so that they do not meet the target's inodes. */
export function renumberTree(tree: SavedTree, offset: number): SavedTree {
  const move = (ino: number) => (ino === 1 ? 1 : ino + offset);
  return {
    ...tree,
    root: move(tree.root),
    inodes: tree.inodes.map((inode) => {
      const moved = [...inode] as SavedInode;
      moved[0] = move(inode[0]);
      moved[13] = move(inode[13]);
      if (inode[12]) moved[12] = Object.fromEntries(Object.entries(inode[12]).map(([n, i]) => [n, move(i)]));
      return moved;
    }),
  };
}

const documentsOf = async (metadata: MetadataStore, records: ContainerRecord[]) => {
  const names = [IMAGES_DOCUMENT, CONTAINERS_DOCUMENT];
  for (const { id } of records) {
    for (let slot = 0; slot < LOG_SLOTS; slot++) names.push(logDocumentName(id, slot));
    names.push(upperLayerDocument(id));
  }
  const documents = new Map<string, Uint8Array>();
  for (const name of names) {
    const bytes = await metadata.read(name);
    if (bytes !== undefined) documents.set(name, bytes);
  }
  return documents;
};

/**
 * The engine's images, volumes and containers as one tar (`workspace.json` first). The engine should not be running
 * containers meanwhile (a volume written during the export may be caught half way).
 * @example
 * const tar = await exportWorkspace(stores);
 */
export async function exportWorkspace(stores: WorkspaceStores): Promise<ReadableStream<Uint8Array>> {
  const records = decodeContainerRecords(await stores.metadata.read(CONTAINERS_DOCUMENT));
  const documents = await documentsOf(stores.metadata, records);
  const blobs: WorkspaceManifest["blobs"] = [];
  for await (const info of stores.content.list()) blobs.push({ digest: info.digest, size: info.size });
  const volumes: { name: string; tree: Uint8Array; files: { ino: number; size: number }[] }[] = [];
  for (const name of (await stores.volumes.volumes()).sort()) {
    const tree = await stores.volumes.readTree(name);
    if (tree === undefined) continue;
    const files = parseTree(tree, name)
      .inodes.filter((inode) => (inode[1] & S_IFMT) === S_IFREG && inode[4] > 0)
      .map((inode) => ({ ino: inode[0], size: inode[4] }));
    volumes.push({ name, tree, files });
  }
  const images = documents.has(IMAGES_DOCUMENT)
    ? Object.keys((parseJson(documents.get(IMAGES_DOCUMENT)!, IMAGES_DOCUMENT) as { images?: object }).images ?? {})
    : [];
  const manifest: WorkspaceManifest = {
    format: WORKSPACE_FORMAT,
    version: WORKSPACE_VERSION,
    createdAt: new Date().toISOString(),
    blobs,
    documents: [...documents].map(([name, bytes]) => ({ name, size: bytes.byteLength, digest: digestOf(bytes) })),
    images,
    volumes: volumes.map(({ name, tree, files }) => ({ name, treeSize: tree.byteLength, files })),
    containers: records.map(({ id, name, image }) => ({ id, name, image })),
  };
  const { readable, controller } = createTarPacker();
  const add = async (name: string, size: number, body: ReadableStream<Uint8Array> | Uint8Array) => {
    const writable = controller.add({ name, size, type: "file", mode: 0o644, mtime: new Date(0) });
    if (body instanceof Uint8Array) {
      const writer = writable.getWriter();
      await writer.write(body);
      await writer.close();
    } else {
      await body.pipeTo(writable);
    }
  };
  void (async () => {
    try {
      const bytes = new TextEncoder().encode(JSON.stringify(manifest, null, 2));
      await add(MANIFEST_NAME, bytes.byteLength, bytes);
      for (const { digest, size } of blobs) {
        await add(memberName.blob(digest), size, await stores.content.read(digest as Digest));
      }
      for (const [name, bytes] of documents) await add(memberName.document(name), bytes.byteLength, bytes);
      for (const { name, tree, files } of volumes) {
        await add(memberName.tree(name), tree.byteLength, tree);
        for (const { ino, size } of files) {
          const data = await stores.volumes.read(name, ino, 0, size);
          if (data.byteLength !== size) {
            throw new EngineError(
              "dataLoss",
              `volume ${name}'s file ${ino} has ${data.byteLength} bytes, its tree says ${size}`,
            );
          }
          await add(memberName.file(name, ino), size, data);
        }
      }
      controller.finalize();
    } catch (error) {
      controller.error(error);
    }
  })();
  return readable;
}

export interface ImportOptions {
  /** Whether the target engine is running containers now: an import then is refused. */
  running?: () => boolean | Promise<boolean>;
  /**
   * The engine that wrote the target's records is gone (the page imports before its engine starts, after a tab that
   * closed): containers recorded as running are leftovers, exited as at the next engine start, and do not stop it.
   */
  engineGone?: boolean;
  /** Hashes blobs the target already has, to check the file's copy all the same (Node passes node:crypto's). */
  hashers?: HasherFactory;
}

/** What an import added (what the target already had is kept as it was). */
export interface ImportSummary {
  blobs: number;
  images: string[];
  volumes: string[];
  containers: string[];
  /** Volumes and containers of the workspace the target already had (by name or id): left as they were. */
  skipped: string[];
}

const readAll = async (body: ReadableStream<Uint8Array>) => new Uint8Array(await new Response(body).arrayBuffer());

/**
 * Imports a workspace tar into an engine that is not running containers.
 * @example
 * const summary = await importWorkspace(file.stream(), stores);
 */
export async function importWorkspace(
  stream: ReadableStream<Uint8Array>,
  stores: WorkspaceStores,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const existing = decodeContainerRecords(await stores.metadata.read(CONTAINERS_DOCUMENT));
  const live = options.engineGone
    ? []
    : existing.filter((record) => record.status === "running" || record.status === "paused");
  if ((await options.running?.()) || live.length > 0) {
    throw new EngineError(
      "conflict",
      `the target engine is running containers${live.length ? ` (${live.map((r) => r.name).join(", ")})` : ""}: stop them and the engine (docker stop, then stop the daemon) before importing a workspace`,
    );
  }
  const existingVolumes = new Set<string>();
  let maxIno = 1;
  for (const name of await stores.volumes.volumes()) {
    const tree = await stores.volumes.readTree(name);
    if (tree === undefined) continue;
    existingVolumes.add(name);
    for (const inode of parseTree(tree, name).inodes) maxIno = Math.max(maxIno, inode[0]);
  }
  const offset = maxIno - 1;

  const written = { blobs: [] as Digest[], documents: [] as string[], volumes: [] as string[] };
  const cleanUp = async () => {
    for (const digest of written.blobs) await stores.content.delete(digest).catch(() => {});
    for (const name of written.documents) await stores.metadata.remove(name).catch(() => {});
    for (const volume of written.volumes) await stores.volumes.deleteVolume(volume).catch(() => {});
  };
  const reader = stream.pipeThrough(createTarDecoder()).getReader();
  try {
    let first: ParsedTarEntry | undefined;
    try {
      const next = await reader.read();
      first = next.done ? undefined : (next.value as ParsedTarEntry);
    } catch (error) {
      throw new EngineError(
        "invalidArgument",
        `this is not a Drydock workspace (not a tar file: ${error instanceof Error ? error.message : String(error)}); make one with \`drydock workspace export\``,
      );
    }
    if (first?.header.name !== MANIFEST_NAME) {
      await first?.body.cancel();
      throw new EngineError(
        "invalidArgument",
        `this is not a Drydock workspace: ${first ? `it starts with ${first.header.name}, not ${MANIFEST_NAME}` : "it is empty"}; make one with \`drydock workspace export\``,
      );
    }
    const manifest = parseWorkspaceManifest(await readAll(first.body));
    const existingIds = new Set(existing.map((r) => r.id));
    for (const container of manifest.containers) {
      const clash = existing.find((r) => r.name === container.name && r.id !== container.id);
      if (clash) {
        throw new EngineError(
          "conflict",
          `the workspace's container ${container.name} has the name of a container the target already has: rename or remove that one (docker rm ${container.name}) and import again`,
        );
      }
    }
    const newContainers = new Set(manifest.containers.filter((c) => !existingIds.has(c.id)).map((c) => c.id));
    const blobs = new Map(manifest.blobs.map((b) => [memberName.blob(b.digest), b]));
    const documents = new Map(manifest.documents.map((d) => [memberName.document(d.name), d]));
    const trees = new Map(manifest.volumes.map((v) => [memberName.tree(v.name), v]));
    const files = new Map(
      manifest.volumes.flatMap((v) => v.files.map((f) => [memberName.file(v.name, f.ino), { volume: v.name, ...f }])),
    );
    const pending = new Set([...blobs.keys(), ...documents.keys(), ...trees.keys(), ...files.keys()]);
    const held = new Map<string, Uint8Array>();
    const addedBlobs: Digest[] = [];
    const newVolumes = new Set(manifest.volumes.filter((v) => !existingVolumes.has(v.name)).map((v) => v.name));

    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      const entry = next.value as ParsedTarEntry;
      const name = entry.header.name;
      if (!pending.delete(name)) {
        await entry.body.cancel();
        throw new EngineError(
          "invalidArgument",
          `this workspace holds ${name}, which its ${MANIFEST_NAME} does not list (or lists once): the file was altered; export it again`,
        );
      }
      const blob = blobs.get(name);
      if (blob) {
        const expected = { digest: blob.digest as Digest, size: blob.size };
        if (await hasContent(stores.content, expected.digest)) {
          // Not written again, but checked all the same: a damaged file is refused whatever the target holds.
          const hasher = (options.hashers ?? defaultHasherFactory)(expected.digest.split(":")[0] as DigestAlgorithm);
          let size = 0;
          const body = entry.body.getReader();
          for (let chunk = await body.read(); !chunk.done; chunk = await body.read()) {
            hasher.update(chunk.value);
            size += chunk.value.byteLength;
          }
          if (size !== expected.size || hasher.digest() !== expected.digest) {
            throw new EngineError(
              "dataLoss",
              `the workspace's blob ${blob.digest} is damaged (its bytes do not have that digest): nothing was imported; export the workspace again`,
            );
          }
          continue;
        }
        const writer = await stores.content.writer({ expected });
        try {
          const body = entry.body.getReader();
          for (let chunk = await body.read(); !chunk.done; chunk = await body.read()) await writer.write(chunk.value);
          await writer.commit(expected);
        } catch (error) {
          await writer.abort();
          throw new EngineError(
            "dataLoss",
            `the workspace's blob ${blob.digest} is damaged (${error instanceof Error ? error.message : String(error)}): nothing was imported; export the workspace again`,
          );
        }
        written.blobs.push(expected.digest);
        addedBlobs.push(expected.digest);
        continue;
      }
      const document = documents.get(name);
      if (document) {
        const bytes = await readAll(entry.body);
        if (bytes.byteLength !== document.size || digestOf(bytes) !== document.digest) {
          throw new EngineError(
            "dataLoss",
            `the workspace's ${document.name} is damaged: nothing was imported; export the workspace again`,
          );
        }
        if (document.name === IMAGES_DOCUMENT || document.name === CONTAINERS_DOCUMENT) {
          held.set(document.name, bytes);
          continue;
        }
        const owner = document.name.match(/^(?:log-|upper-)([0-9a-f]{64})[.]/)?.[1];
        if (owner === undefined || !newContainers.has(owner)) continue;
        written.documents.push(document.name);
        await stores.metadata.write(document.name, bytes);
        continue;
      }
      const tree = trees.get(name);
      if (tree) {
        const bytes = await readAll(entry.body);
        if (bytes.byteLength !== tree.treeSize)
          throw new EngineError(
            "dataLoss",
            `the workspace's volume ${tree.name} is damaged: export the workspace again`,
          );
        if (newVolumes.has(tree.name)) held.set(name, bytes);
        continue;
      }
      const file = files.get(name)!;
      if (!newVolumes.has(file.volume)) {
        await entry.body.cancel();
        continue;
      }
      if (!written.volumes.includes(file.volume)) written.volumes.push(file.volume);
      const body = entry.body.getReader();
      let at = 0;
      for (let chunk = await body.read(); !chunk.done; chunk = await body.read()) {
        for (let start = 0; start < chunk.value.byteLength; start += READ_CHUNK) {
          const piece = chunk.value.subarray(start, start + READ_CHUNK);
          await stores.volumes.write(file.volume, file.ino + offset, at, piece);
          at += piece.byteLength;
        }
      }
      if (at !== file.size) {
        throw new EngineError(
          "dataLoss",
          `the workspace's volume ${file.volume} is damaged (a file is cut short): export the workspace again`,
        );
      }
    }
    if (pending.size > 0) {
      throw new EngineError(
        "dataLoss",
        `this workspace is incomplete (${pending.size} listed members missing, such as ${[...pending][0]}): nothing was imported; export it again`,
      );
    }

    // Everything arrived and checked out: make it visible.
    for (const volume of newVolumes) {
      if (!written.volumes.includes(volume)) written.volumes.push(volume);
      const tree = renumberTree(parseTree(held.get(memberName.tree(volume))!, volume), offset);
      await stores.volumes.writeTree(volume, new TextEncoder().encode(JSON.stringify(tree)));
    }
    const addedImages: string[] = [];
    const importedImages = held.get(IMAGES_DOCUMENT);
    if (importedImages) {
      const theirs = parseJson(importedImages, IMAGES_DOCUMENT) as {
        images: Record<string, unknown>;
        layers: Record<string, unknown>;
      };
      const current = await stores.metadata.read(IMAGES_DOCUMENT);
      const ours = current
        ? (parseJson(current, IMAGES_DOCUMENT) as {
            version: 1;
            images: Record<string, unknown>;
            layers: Record<string, unknown>;
          })
        : { version: 1 as const, images: {}, layers: {} };
      for (const [key, record] of Object.entries(theirs.images ?? {})) {
        if (key in ours.images) continue;
        ours.images[key] = record;
        addedImages.push(key);
      }
      for (const [key, record] of Object.entries(theirs.layers ?? {}))
        if (!(key in ours.layers)) ours.layers[key] = record;
      await stores.metadata.write(IMAGES_DOCUMENT, new TextEncoder().encode(JSON.stringify(ours)));
    }
    const importedContainers = held.has(CONTAINERS_DOCUMENT)
      ? decodeContainerRecords(held.get(CONTAINERS_DOCUMENT))
      : [];
    const added = importedContainers.filter((record) => newContainers.has(record.id));
    if (added.length > 0) {
      await stores.metadata.write(CONTAINERS_DOCUMENT, encodeContainerRecords([...existing, ...added]));
    }
    return {
      blobs: addedBlobs.length,
      images: addedImages,
      volumes: [...newVolumes],
      containers: added.map((r) => r.name),
      skipped: [
        ...manifest.volumes.filter((v) => !newVolumes.has(v.name)).map((v) => `volume ${v.name}`),
        ...manifest.containers.filter((c) => !newContainers.has(c.id)).map((c) => `container ${c.name}`),
      ],
    };
  } catch (error) {
    await reader.cancel().catch(() => {});
    await cleanUp();
    throw error;
  }
}

/**
 * Reads a workspace file through without writing anything, and refuses it as `importWorkspace` would refuse it: not
 * a workspace, a member its manifest does not list, a blob or document whose bytes do not have their digest, a volume
 * cut short, a member missing. The page checks a file this way before keeping it for the import at its next start,
 * so `drydock workspace import` in its terminal says at once what is wrong with it.
 * @example
 * const manifest = await verifyWorkspace(file.stream());
 */
export async function verifyWorkspace(
  stream: ReadableStream<Uint8Array>,
  hashers: HasherFactory = defaultHasherFactory,
): Promise<WorkspaceManifest> {
  const reader = stream.pipeThrough(createTarDecoder()).getReader();
  const notWorkspace = (why: string) =>
    new EngineError(
      "invalidArgument",
      `this is not a Drydock workspace (${why}); make one with \`drydock workspace export\``,
    );
  try {
    let first: ParsedTarEntry | undefined;
    try {
      const next = await reader.read();
      first = next.done ? undefined : (next.value as ParsedTarEntry);
    } catch (error) {
      throw notWorkspace(`not a tar file: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (first?.header.name !== MANIFEST_NAME) {
      await first?.body.cancel();
      throw notWorkspace(first ? `it starts with ${first.header.name}, not ${MANIFEST_NAME}` : "it is empty");
    }
    const manifest = parseWorkspaceManifest(await readAll(first.body));
    const sized = new Map<string, { size: number; digest?: string; what: string }>();
    for (const blob of manifest.blobs) {
      sized.set(memberName.blob(blob.digest), { size: blob.size, digest: blob.digest, what: `blob ${blob.digest}` });
    }
    for (const document of manifest.documents) {
      sized.set(memberName.document(document.name), {
        size: document.size,
        digest: document.digest,
        what: document.name,
      });
    }
    for (const volume of manifest.volumes) {
      sized.set(memberName.tree(volume.name), { size: volume.treeSize, what: `volume ${volume.name}` });
      for (const file of volume.files) {
        sized.set(memberName.file(volume.name, file.ino), { size: file.size, what: `volume ${volume.name}` });
      }
    }
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      const entry = next.value as ParsedTarEntry;
      const member = sized.get(entry.header.name);
      if (!member) {
        await entry.body.cancel();
        throw new EngineError(
          "invalidArgument",
          `this workspace holds ${entry.header.name}, which its ${MANIFEST_NAME} does not list (or lists once): the file was altered; export it again`,
        );
      }
      sized.delete(entry.header.name);
      const hasher = member.digest ? hashers(member.digest.split(":")[0] as DigestAlgorithm) : undefined;
      let size = 0;
      const body = entry.body.getReader();
      for (let chunk = await body.read(); !chunk.done; chunk = await body.read()) {
        hasher?.update(chunk.value);
        size += chunk.value.byteLength;
      }
      if (size !== member.size || (hasher && hasher.digest() !== member.digest)) {
        throw new EngineError(
          "dataLoss",
          `the workspace's ${member.what} is damaged (its bytes do not match its ${MANIFEST_NAME}): nothing was imported; export the workspace again`,
        );
      }
    }
    if (sized.size > 0) {
      throw new EngineError(
        "dataLoss",
        `this workspace is incomplete (${sized.size} listed members missing, such as ${[...sized.keys()][0]}): nothing was imported; export it again`,
      );
    }
    return manifest;
  } catch (error) {
    if (error instanceof EngineError) throw error;
    throw new EngineError(
      "dataLoss",
      `the workspace file is damaged (${error instanceof Error ? error.message : String(error)}): nothing was imported; export the workspace again`,
    );
  } finally {
    await reader.cancel().catch(() => {});
  }
}
