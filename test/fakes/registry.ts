// An in-memory OCI registry behind a fake `fetch`, for unit tests of the registry client and the image store. It
// speaks enough of the distribution API (manifests, blobs with Range, bearer and basic auth, error bodies) and can
// be told to misbehave: 5xx answers, dropped connections, truncated bodies, ignored Range headers.
import { packTar, type TarEntry } from "modern-tar";
import { HEADER_ONLY_TYPES, TAR_BLOCK, tarNumber } from "../../engine/images/tar-headers.ts";
import type { Descriptor, Digest } from "../../engine/oci/index.ts";
import { digestOf, MediaType } from "../../engine/oci/index.ts";

export interface FakeRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
}

export interface FakeRegistryOptions {
  /** Registry host in references; the fake answers for `https://<host>` (or http for loopback hosts). */
  host?: string;
  auth?: "bearer" | "basic";
  credentials?: { username: string; password: string };
}

interface StoredManifest {
  bytes: Uint8Array;
  mediaType: string;
}

export interface FakeFaults {
  /** The next N requests (of any kind) answer 503. */
  serverErrors: number;
  /** The next N requests throw like a dropped connection before any answer. */
  networkErrors: number;
  /** Blob digest → how many more times its body stops after this many bytes, with a connection error. */
  dropBlobAfter: Map<string, { bytes: number; times: number }>;
  /** Blob digest → how many more times its body ends cleanly but early (no error), after half its bytes. */
  endBlobEarly: Map<string, number>;
  /** Answer blob Range requests with the whole blob (200), as some servers do. */
  ignoreRange: boolean;
}

const encoder = new TextEncoder();

export function jsonBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function tar(entries: TarEntry[]): Promise<Uint8Array> {
  return packTar(entries);
}

/**
 * Writes device numbers into the ustar header of each named device entry of a tar (modern-tar writes none), with the
 * header's checksum made again. Changes `bytes` in place and returns them.
 * @example
 * withDeviceNumbers(await tar([{ header: { name: "hvc0", type: "character-device", size: 0 } }]), { hvc0: [229, 0] });
 */
export function withDeviceNumbers<T extends Uint8Array>(bytes: T, numbers: Record<string, [number, number]>): T {
  const octal = (value: number) => encoder.encode(`${value.toString(8).padStart(7, "0")}\0`);
  for (let at = 0; at + TAR_BLOCK <= bytes.length; ) {
    const header = bytes.subarray(at, at + TAR_BLOCK);
    if (header.every((byte) => byte === 0)) break;
    const name = new TextDecoder().decode(header.subarray(0, 100)).replace(/\0.*$/s, "");
    const type = String.fromCharCode(header[156]!);
    const found = numbers[name];
    if (found && (type === "3" || type === "4")) {
      header.set(octal(found[0]), 329);
      header.set(octal(found[1]), 337);
      header.fill(0x20, 148, 156);
      const sum = header.reduce((total, byte) => total + byte, 0);
      header.set(encoder.encode(`${sum.toString(8).padStart(6, "0")}\0 `), 148);
    }
    const size = HEADER_ONLY_TYPES.includes(type) ? 0 : tarNumber(header.subarray(124, 136))!;
    at += TAR_BLOCK + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
  }
  return bytes;
}

function base64(text: string): string {
  return Buffer.from(text).toString("base64");
}

export class FakeRegistry {
  readonly host: string;
  readonly baseUrl: string;
  readonly requests: FakeRequest[] = [];
  readonly tokenRequests: FakeRequest[] = [];
  readonly blobs = new Map<string, Uint8Array>();
  readonly manifests = new Map<string, Map<string, StoredManifest>>();
  readonly faults: FakeFaults = {
    serverErrors: 0,
    networkErrors: 0,
    dropBlobAfter: new Map(),
    endBlobEarly: new Map(),
    ignoreRange: false,
  };
  #tokenCounter = 0;

  constructor(private readonly options: FakeRegistryOptions = {}) {
    this.host = options.host ?? "registry.test";
    const loopback = this.host.startsWith("localhost") || this.host.startsWith("127.");
    this.baseUrl = `${loopback ? "http" : "https"}://${this.host}`;
  }

  addBlob(bytes: Uint8Array, mediaType: string = MediaType.ociLayerGzip): Descriptor {
    const digest = digestOf(bytes);
    this.blobs.set(digest, bytes);
    return { mediaType, digest, size: bytes.byteLength };
  }

  /** Stores a manifest under its digest and, if given, a tag. */
  addManifest(repository: string, value: unknown, mediaType: string, tag?: string): Descriptor {
    const bytes = value instanceof Uint8Array ? value : jsonBytes(value);
    const digest = digestOf(bytes);
    let repo = this.manifests.get(repository);
    if (!repo) {
      repo = new Map();
      this.manifests.set(repository, repo);
    }
    repo.set(digest, { bytes, mediaType });
    if (tag !== undefined) repo.set(tag, { bytes, mediaType });
    return { mediaType, digest, size: bytes.byteLength };
  }

  /**
   * Builds and stores a single-platform image from uncompressed layer tars (gzipped here), and tags it.
   */
  async addImage(
    repository: string,
    tag: string | undefined,
    layerTars: Uint8Array[],
    options: { architecture?: string; compression?: "gzip" | "none"; config?: Record<string, unknown> } = {},
  ): Promise<{ manifest: Descriptor; config: Descriptor; layers: Descriptor[]; diffIds: Digest[] }> {
    const diffIds = layerTars.map((layer) => digestOf(layer));
    const layers: Descriptor[] = [];
    for (const layer of layerTars) {
      layers.push(
        options.compression === "none"
          ? this.addBlob(layer, MediaType.ociLayerTar)
          : this.addBlob(await gzip(layer), MediaType.ociLayerGzip),
      );
    }
    const config = this.addBlob(
      jsonBytes({
        architecture: options.architecture ?? "386",
        os: "linux",
        created: "2024-01-01T00:00:00Z",
        config: { Cmd: ["sh"], Env: ["PATH=/bin"] },
        rootfs: { type: "layers", diff_ids: diffIds },
        history: layerTars.map((_, i) => ({ created_by: `layer ${i}` })),
        ...options.config,
      }),
      MediaType.ociImageConfig,
    );
    const manifest = this.addManifest(
      repository,
      { schemaVersion: 2, mediaType: MediaType.ociImageManifest, config, layers },
      MediaType.ociImageManifest,
      tag,
    );
    return { manifest, config, layers, diffIds };
  }

  /** Tags an index over manifests already stored, each with its platform. */
  addIndex(repository: string, tag: string, entries: { manifest: Descriptor; platform: Record<string, string> }[]) {
    return this.addManifest(
      repository,
      {
        schemaVersion: 2,
        mediaType: MediaType.ociImageIndex,
        manifests: entries.map(({ manifest, platform }) => ({ ...manifest, platform })),
      },
      MediaType.ociImageIndex,
      tag,
    );
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, key) => {
      headers[key] = value;
    });
    const request = { method: init?.method ?? "GET", url: url.href, headers };
    if (url.pathname === "/token") {
      this.tokenRequests.push(request);
      return this.#token(headers);
    }
    this.requests.push(request);
    if (this.faults.networkErrors > 0) {
      this.faults.networkErrors -= 1;
      throw new TypeError("fetch failed");
    }
    if (this.faults.serverErrors > 0) {
      this.faults.serverErrors -= 1;
      return new Response("busy", { status: 503 });
    }
    if (`${url.protocol}//${url.host}` !== this.baseUrl) throw new TypeError(`fetch failed: no route to ${url.host}`);
    if (url.pathname === "/v2/") return new Response("{}");
    const denied = this.#checkAuth(headers);
    if (denied) return denied;
    const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!match) return this.#error(404, "NAME_UNKNOWN", "no such route");
    const [, repository, kind, target] = match as unknown as [string, string, string, string];
    if (kind === "manifests") return this.#manifest(repository, target, request.method);
    return this.#blob(target, headers.range);
  };

  #error(status: number, code: string, message: string, extra: Record<string, string> = {}): Response {
    return new Response(JSON.stringify({ errors: [{ code, message }] }), {
      status,
      headers: { "content-type": "application/json", ...extra },
    });
  }

  #checkAuth(headers: Record<string, string>): Response | undefined {
    const { auth, credentials } = this.options;
    if (!auth) return undefined;
    const given = headers.authorization ?? "";
    if (auth === "basic") {
      const expected = credentials && `Basic ${base64(`${credentials.username}:${credentials.password}`)}`;
      if (given === expected) return undefined;
      return this.#error(401, "UNAUTHORIZED", "authentication required", {
        "www-authenticate": 'Basic realm="fake"',
      });
    }
    if (given.startsWith("Bearer token-")) return undefined;
    return this.#error(401, "UNAUTHORIZED", "authentication required", {
      "www-authenticate": `Bearer realm="${this.baseUrl}/token",service="${this.host}"`,
    });
  }

  #token(headers: Record<string, string>): Response {
    const { credentials } = this.options;
    if (headers.authorization !== undefined) {
      const expected = credentials && `Basic ${base64(`${credentials.username}:${credentials.password}`)}`;
      if (headers.authorization !== expected) return this.#error(401, "UNAUTHORIZED", "incorrect username or password");
    } else if (credentials) {
      return this.#error(401, "UNAUTHORIZED", "credentials required");
    }
    this.#tokenCounter += 1;
    return Response.json({ token: `token-${this.#tokenCounter}`, expires_in: 300 });
  }

  #manifest(repository: string, target: string, method: string): Response {
    const repo = this.manifests.get(repository);
    if (!repo) return this.#error(404, "NAME_UNKNOWN", "repository name not known to registry");
    const manifest = repo.get(target);
    if (!manifest) return this.#error(404, "MANIFEST_UNKNOWN", "manifest unknown");
    return new Response(method === "HEAD" ? null : (manifest.bytes as Uint8Array<ArrayBuffer>), {
      headers: {
        "content-type": manifest.mediaType,
        "docker-content-digest": digestOf(manifest.bytes),
        "content-length": String(manifest.bytes.byteLength),
      },
    });
  }

  #blob(digest: string, range: string | undefined): Response {
    const bytes = this.blobs.get(digest);
    if (!bytes) return this.#error(404, "BLOB_UNKNOWN", "blob unknown to registry");
    let start = 0;
    const rangeStart = range && !this.faults.ignoreRange ? /^bytes=(\d+)-$/.exec(range)?.[1] : undefined;
    if (rangeStart !== undefined) start = Number(rangeStart);
    const body = bytes.subarray(start);
    const drop = this.faults.dropBlobAfter.get(digest);
    const early = this.faults.endBlobEarly.get(digest) ?? 0;
    let stream: ReadableStream<Uint8Array>;
    if (drop && drop.times > 0) {
      drop.times -= 1;
      const keep = body.subarray(0, drop.bytes);
      stream = new ReadableStream({
        start(controller) {
          if (keep.byteLength > 0) controller.enqueue(keep.slice());
        },
        pull(controller) {
          controller.error(new TypeError("terminated: other side closed"));
        },
      });
    } else if (early > 0) {
      this.faults.endBlobEarly.set(digest, early - 1);
      stream = new Blob([body.slice(0, Math.floor(body.byteLength / 2))]).stream();
    } else {
      stream = new Blob([body.slice()]).stream();
    }
    const headers: Record<string, string> = { "content-type": "application/octet-stream" };
    if (rangeStart !== undefined) {
      headers["content-range"] = `bytes ${start}-${bytes.byteLength - 1}/${bytes.byteLength}`;
      return new Response(stream, { status: 206, headers });
    }
    return new Response(stream, { headers });
  }
}
