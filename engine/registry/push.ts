// The distribution spec's push flow over RegistryClient.exchange: a blob the registry has is skipped (HEAD), one
// another repository of the same registry has is mounted from it when the registry allows (POST ?mount=&from=),
// any other is uploaded (POST → PUT ?digest= for small blobs, POST → PATCH chunks with Content-Range → PUT for big
// ones); the manifest goes last with its own media type as Content-Type, so the registry checks every blob it names.
import { EngineError } from "../errors.ts";
import { type Descriptor, familiarReference, type ImageReference } from "../oci/index.ts";
import type { RegistryClient } from "./client.ts";

/** Reads `length` bytes of a blob from `offset` (the content store's readBytes with a range). */
export type BlobReader = (descriptor: Descriptor, offset: number, length: number) => Promise<Uint8Array>;

export type BlobPushStatus = "exists" | "mounted" | "pushing" | "pushed";

export interface BlobPushProgress {
  status: BlobPushStatus;
  /** Bytes the registry has acknowledged. */
  done: number;
  total: number;
  /** For "mounted": the repository the blob was mounted from. */
  from?: string;
}

export interface PushBlobOptions {
  /** Repositories of the same registry that hold the blob: tried, in order, as the source of a mount. */
  mountFrom?: readonly string[];
  /** Blobs larger than this go up in PATCH chunks of this size; smaller ones in one PUT. Default 8 MiB. */
  chunkSize?: number;
  onProgress?: (progress: BlobPushProgress) => void;
  signal?: AbortSignal;
}

export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;

/** The upload URL a 202 names, with `digest` added for the closing PUT. */
function withDigest(location: string, digest: string): string {
  // Locations may be relative; parse against a placeholder and give back the same form.
  const absolute = /^[a-z][a-z0-9+.-]*:/i.test(location);
  const url = new URL(location, "http://relative.invalid");
  url.searchParams.set("digest", digest);
  return absolute ? url.toString() : `${url.pathname}${url.search}`;
}

function locationOf(response: Response, what: string): string {
  const location = response.headers.get("location");
  if (!location)
    throw new EngineError("invalidArgument", `the registry started ${what} without saying where (no Location)`);
  return location;
}

/**
 * Makes sure the registry has a blob under `reference`'s repository: says how (exists, mounted, pushed).
 * @example
 * await pushBlob(client, parseReference("localhost:5000/app"), layer, (d, offset, length) =>
 *   store.readBytes(d.digest, { offset, length }));
 */
export async function pushBlob(
  client: RegistryClient,
  reference: ImageReference,
  descriptor: Descriptor,
  read: BlobReader,
  options: PushBlobOptions = {},
): Promise<BlobPushStatus> {
  const what = `blob ${descriptor.digest} of ${familiarReference(reference)}`;
  const total = descriptor.size;
  const report = (status: BlobPushStatus, done: number, from?: string) =>
    options.onProgress?.({ status, done, total, ...(from ? { from } : {}) });
  const base = { what, actions: "pull,push", signal: options.signal };

  const head = await client.exchange(reference, {
    ...base,
    method: "HEAD",
    path: `blobs/${descriptor.digest}`,
    accept: (status) => status === 200 || status === 404,
  });
  await head.body?.cancel();
  if (head.status === 200) {
    report("exists", total);
    return "exists";
  }

  let location: string | undefined;
  for (const from of options.mountFrom ?? []) {
    if (from === reference.repository) continue;
    const mount = await client.exchange(reference, {
      ...base,
      method: "POST",
      path: `blobs/uploads/?mount=${encodeURIComponent(descriptor.digest)}&from=${encodeURIComponent(from)}`,
      scopes: [`repository:${from}:pull`],
      // 201: mounted; 202: the registry would not (or could not) mount, and opened an upload instead.
      accept: (status) => status === 201 || status === 202,
    });
    await mount.body?.cancel();
    if (mount.status === 201) {
      report("mounted", total, from);
      return "mounted";
    }
    location = locationOf(mount, `the upload of ${what}`);
    break;
  }
  if (location === undefined) {
    const start = await client.exchange(reference, { ...base, method: "POST", path: "blobs/uploads/" });
    await start.body?.cancel();
    location = locationOf(start, `the upload of ${what}`);
  }

  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  report("pushing", 0);
  let body: Uint8Array | undefined;
  if (total <= chunkSize) {
    body = await read(descriptor, 0, total);
  } else {
    for (let offset = 0; offset < total; offset += chunkSize) {
      const chunk = await read(descriptor, offset, Math.min(chunkSize, total - offset));
      const patch = await client.exchange(reference, {
        ...base,
        method: "PATCH",
        url: location,
        body: chunk,
        headers: {
          "content-type": "application/octet-stream",
          "content-range": `${offset}-${offset + chunk.byteLength - 1}`,
        },
        accept: (status) => status === 202,
      });
      await patch.body?.cancel();
      location = locationOf(patch, `the upload of ${what}`);
      report("pushing", offset + chunk.byteLength);
    }
  }
  const put = await client.exchange(reference, {
    ...base,
    method: "PUT",
    url: withDigest(location, descriptor.digest),
    headers: { "content-type": "application/octet-stream" },
    ...(body ? { body } : {}),
    accept: (status) => status === 201 || status === 204,
  });
  await put.body?.cancel();
  report("pushed", total);
  return "pushed";
}

/**
 * Puts a manifest under a tag (or its digest), with its media type as Content-Type. Returns the digest the registry
 * announced, which must be the manifest's own.
 * @example
 * await pushManifest(client, parseReference("localhost:5000/app:1"), "1", manifest.descriptor, manifest.bytes);
 */
export async function pushManifest(
  client: RegistryClient,
  reference: ImageReference,
  tag: string,
  descriptor: Descriptor,
  bytes: Uint8Array,
  signal?: AbortSignal,
): Promise<void> {
  const what = `manifest ${tag} of ${familiarReference({ ...reference, tag: undefined, digest: undefined })}`;
  const response = await client.exchange(reference, {
    method: "PUT",
    path: `manifests/${tag}`,
    what,
    actions: "pull,push",
    body: bytes,
    headers: { "content-type": descriptor.mediaType },
    ...(signal ? { signal } : {}),
  });
  await response.body?.cancel();
  const announced = response.headers.get("docker-content-digest");
  if (announced && announced !== descriptor.digest) {
    throw new EngineError(
      "dataLoss",
      `the registry stored ${what} as ${announced}, but its bytes have digest ${descriptor.digest}`,
    );
  }
}
