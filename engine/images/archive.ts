// `docker save` and `docker load`. Saving writes one tar that is both formats at once, as docker 25 does: an OCI
// image layout (oci-layout, index.json, blobs/sha256/…) and the docker-archive manifest.json beside it, naming the
// same blob files, so `docker load` of any version, skopeo (docker-archive: or oci-archive:) and umoci read it.
// Loading takes either: docker 20.10's `<id>/layer.tar` archives, docker 25's, or a plain OCI layout (as a tar).
import { createTarDecoder, createTarPacker, type ParsedTarEntry } from "modern-tar";
import type { Ingester } from "../content/index.ts";
import { EngineError } from "../errors.ts";
import {
  type Descriptor,
  type Digest,
  familiarReference,
  formatReference,
  GUEST_PLATFORM,
  type ImageIndex,
  INDEX_MEDIA_TYPES,
  MediaType,
  parseImageConfig,
  parseImageIndex,
  parseImageManifest,
  parseJson,
  parseReference,
  platformMatches,
} from "../oci/index.ts";
import type { ImageDetails, ImageStore } from "./image-store.ts";

/** One image `docker load` stored, in the words it prints. */
export interface LoadedImage {
  /** `Loaded image: busybox:latest`, or `Loaded image ID: sha256:…` for one without a name. */
  message: string;
  id: Digest;
  names: string[];
}

/** Archive members kept in memory while the archive is read; bigger ones (layers) are spooled to the store. */
const IN_MEMORY_LIMIT = 4 * 1024 * 1024;

function blobPath(digest: Digest): string {
  return `blobs/${digest.replace(":", "/")}`;
}

async function streamInto(
  controller: ReturnType<typeof createTarPacker>["controller"],
  name: string,
  size: number,
  body: ReadableStream<Uint8Array> | Uint8Array,
) {
  const writable = controller.add({ name, size, type: "file", mode: 0o644, mtime: new Date(0) });
  if (body instanceof Uint8Array) {
    const writer = writable.getWriter();
    await writer.write(body);
    await writer.close();
  } else {
    await body.pipeTo(writable);
  }
}

/**
 * The images named, as one tar (OCI layout plus docker's manifest.json). Each image's blobs are written once even
 * when several names share them.
 * @example
 * const tar = await saveImages(store, ["busybox", "localhost:5000/app:1"]);
 */
export async function saveImages(store: ImageStore, names: readonly string[]): Promise<ReadableStream<Uint8Array>> {
  if (names.length === 0) throw new EngineError("invalidArgument", "no images to save: name at least one");
  const images: { name: string | undefined; details: ImageDetails; manifestBytes: Uint8Array }[] = [];
  for (const name of names) {
    const details = await store.get(name);
    // Named by one of its names, the image is saved with that name; by its ID, without one (as docker does).
    let byName = false;
    try {
      const parsed = parseReference(name);
      byName = formatReference({ ...parsed, tag: parsed.tag ?? "latest" }) === details.record.name;
    } catch {
      byName = false;
    }
    const manifestBytes = await store.content.readBytes(details.record.manifest.digest);
    images.push({ name: byName ? details.record.name : undefined, details, manifestBytes });
  }
  const { readable, controller } = createTarPacker();
  const written = new Set<Digest>();
  const write = async (descriptor: Descriptor, bytes?: Uint8Array) => {
    if (written.has(descriptor.digest)) return;
    written.add(descriptor.digest);
    await streamInto(
      controller,
      blobPath(descriptor.digest),
      descriptor.size,
      bytes ?? (await store.content.read(descriptor.digest)),
    );
  };
  void (async () => {
    try {
      const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociImageIndex, manifests: [] };
      const dockerManifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
      for (const { name, details, manifestBytes } of images) {
        const manifest = parseImageManifest(parseJson(manifestBytes, "manifest"), "manifest");
        for (const layer of manifest.layers) await write(layer);
        await write(manifest.config);
        await write(details.record.manifest, manifestBytes);
        const reference = name ? parseReference(name) : undefined;
        const repoTag = reference ? familiarReference({ ...reference, digest: undefined }) : undefined;
        const existing = dockerManifest.find((entry) => entry.Config === blobPath(manifest.config.digest));
        if (existing) {
          if (repoTag) existing.RepoTags = [...(existing.RepoTags ?? []), repoTag];
        } else {
          dockerManifest.push({
            Config: blobPath(manifest.config.digest),
            RepoTags: repoTag ? [repoTag] : null,
            Layers: manifest.layers.map((layer) => blobPath(layer.digest)),
          });
        }
        index.manifests.push({
          mediaType: details.record.manifest.mediaType,
          digest: details.record.manifest.digest,
          size: details.record.manifest.size,
          ...(reference
            ? {
                annotations: {
                  "io.containerd.image.name": formatReference({ ...reference, digest: undefined }),
                  "org.opencontainers.image.ref.name": reference.tag ?? "latest",
                },
              }
            : {}),
        });
      }
      const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
      for (const [file, bytes] of [
        ["index.json", json(index)],
        ["manifest.json", json(dockerManifest)],
        ["oci-layout", json({ imageLayoutVersion: "1.0.0" })],
      ] as const) {
        await streamInto(controller, file, bytes.byteLength, bytes);
      }
      controller.finalize();
    } catch (error) {
      controller.error(error);
    }
  })();
  return readable;
}

/** A member of the archive: in memory, or spooled to the content store under its digest. */
type Member = { bytes: Uint8Array } | { stored: Descriptor };

async function readMembers(ingester: Ingester, archive: ReadableStream<Uint8Array>): Promise<Map<string, Member>> {
  const members = new Map<string, Member>();
  const entries = archive.pipeThrough(createTarDecoder());
  for await (const entry of entries as unknown as AsyncIterable<ParsedTarEntry>) {
    const name = entry.header.name.replace(/^\.\//, "");
    const type = entry.header.type ?? "file";
    if (type === "symlink" && entry.header.linkname) {
      // docker 20.10 links a layer seen twice to its first copy.
      const target = new URL(entry.header.linkname, `file:///${name}`).pathname.slice(1);
      const linked = members.get(target);
      if (linked) members.set(name, linked);
      await entry.body.cancel();
      continue;
    }
    if (type !== "file") {
      await entry.body.cancel();
      continue;
    }
    if (entry.header.size <= IN_MEMORY_LIMIT) {
      members.set(name, { bytes: new Uint8Array(await new Response(entry.body).arrayBuffer()) });
      continue;
    }
    const writer = await ingester.writer();
    try {
      const reader = entry.body.getReader();
      for (let next = await reader.read(); !next.done; next = await reader.read()) await writer.write(next.value);
      const size = writer.offset;
      const info = await writer.commit({ digest: await writer.digest(), size });
      members.set(name, { stored: { mediaType: "", digest: info.digest, size } });
    } catch (error) {
      await writer.abort();
      throw error;
    }
  }
  return members;
}

async function memberBytes(store: ImageStore, member: Member): Promise<Uint8Array> {
  return "bytes" in member ? member.bytes : store.content.readBytes(member.stored.digest);
}

async function memberStream(store: ImageStore, member: Member): Promise<ReadableStream<Uint8Array> | Uint8Array> {
  return "bytes" in member ? member.bytes : store.content.read(member.stored.digest);
}

/** The media type a layer file is stored under, from its first bytes (docker-archive layers carry none). */
function sniffLayerType(head: Uint8Array): string {
  if (head[0] === 0x1f && head[1] === 0x8b) return MediaType.ociLayerGzip;
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return MediaType.ociLayerZstd;
  return MediaType.ociLayerTar;
}

async function layerMediaType(store: ImageStore, member: Member): Promise<string> {
  const head =
    "bytes" in member
      ? member.bytes.subarray(0, 4)
      : await store.content.readBytes(member.stored.digest, { length: 4 });
  return sniffLayerType(head);
}

/**
 * Stores the images of a `docker save` archive (docker-archive, docker 25's combined one, or an OCI layout as a tar),
 * with their names, keeping each image's ID.
 * @example
 * for (const image of await loadImages(store, content, tarStream)) console.log(image.message);
 */
export async function loadImages(
  store: ImageStore,
  ingester: Ingester,
  archive: ReadableStream<Uint8Array>,
): Promise<LoadedImage[]> {
  let members: Map<string, Member>;
  try {
    members = await readMembers(ingester, archive);
  } catch (error) {
    if (error instanceof EngineError) throw error;
    throw new EngineError("invalidArgument", `the input is not a tar archive of images: ${(error as Error).message}`);
  }
  const member = (path: string, what: string): Member => {
    const found = members.get(path.replace(/^\.\//, ""));
    if (!found) throw new EngineError("invalidArgument", `the archive has no ${path} (${what})`);
    return found;
  };
  const json = async (path: string, what: string) =>
    parseJson(await memberBytes(store, member(path, what)), `${what} in the archive`);

  const loaded: LoadedImage[] = [];
  const store1 = async (config: Member, layers: Member[], names: string[]) => {
    const configBytes = await memberBytes(store, config);
    const parsed = parseImageConfig(parseJson(configBytes, "image config"), "image config");
    const { rootfs: _rootfs, ...rest } = parsed;
    const newLayers = [];
    for (const layer of layers) {
      newLayers.push({ tar: await memberStream(store, layer), mediaType: await layerMediaType(store, layer) });
    }
    const details = await store.create({ config: rest, layers: newLayers, names, configBytes });
    const id = details.record.config.digest;
    if (names.length === 0) loaded.push({ message: `Loaded image ID: ${id}`, id, names });
    for (const name of names) {
      const familiar = familiarReference(parseReference(name));
      loaded.push({ message: `Loaded image: ${familiar}`, id, names });
    }
  };

  if (members.has("manifest.json")) {
    const entries = (await json("manifest.json", "manifest.json")) as unknown;
    if (!Array.isArray(entries)) throw new EngineError("invalidArgument", "the archive's manifest.json is not a list");
    for (const entry of entries as { Config?: unknown; RepoTags?: unknown; Layers?: unknown }[]) {
      if (typeof entry.Config !== "string" || !Array.isArray(entry.Layers)) {
        throw new EngineError("invalidArgument", "an entry of the archive's manifest.json has no Config or Layers");
      }
      const names = Array.isArray(entry.RepoTags)
        ? entry.RepoTags.filter((t): t is string => typeof t === "string")
        : [];
      await store1(
        member(entry.Config, "an image config"),
        entry.Layers.map((layer) => member(String(layer), "a layer")),
        names,
      );
    }
    return loaded;
  }
  if (members.has("index.json")) {
    const index = parseImageIndex(await json("index.json", "index.json"), "index.json");
    const blob = (digest: Digest, what: string) => member(blobPath(digest), what);
    for (const entry of index.manifests) {
      let descriptor = entry;
      if (INDEX_MEDIA_TYPES.includes(entry.mediaType)) {
        const nested = parseImageIndex(parseJson(await memberBytes(store, blob(entry.digest, "an index")), "index"));
        const match = nested.manifests.find((m) => m.platform && platformMatches(m.platform, GUEST_PLATFORM));
        if (!match) continue;
        descriptor = { ...match, annotations: entry.annotations ?? match.annotations };
      }
      const manifest = parseImageManifest(
        parseJson(await memberBytes(store, blob(descriptor.digest, "a manifest")), "manifest"),
      );
      const annotations = descriptor.annotations ?? {};
      const fullName = annotations["io.containerd.image.name"];
      const refName = annotations["org.opencontainers.image.ref.name"];
      const names: string[] = [];
      if (fullName) names.push(fullName);
      else if (refName && /[/:]/.test(refName)) names.push(refName);
      await store1(
        blob(manifest.config.digest, "an image config"),
        manifest.layers.map((layer) => blob(layer.digest, "a layer")),
        names,
      );
    }
    if (loaded.length === 0) {
      throw new EngineError("notFound", "the OCI layout has no linux/386 image, the only platform Drydock runs");
    }
    return loaded;
  }
  throw new EngineError(
    "invalidArgument",
    "the archive has neither manifest.json nor index.json: is it the output of docker save or an OCI image layout?",
  );
}
