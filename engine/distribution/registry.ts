// A registry served by the engine from its own content store: the distribution API's pull and push routes as a
// fetch handler, so the engine's registry client reaches it in-process under a name like `localhost:5000` (no
// network, in the page or in Node), and a Node daemon can also serve it on a TCP port for other tools. Blobs are
// shared with the image store (a push of a pulled image copies nothing); repositories, tags and which blobs each
// repository holds are one small metadata document. A push notifies subscribers with distribution's event envelope.
import type { ContentStore, ContentWriter, MetadataStore } from "../content/index.ts";
import { hasContent, writeBlob } from "../content/index.ts";
import { EngineError, isEngineError } from "../errors.ts";
import {
  type Descriptor,
  type Digest,
  digestOf,
  INDEX_MEDIA_TYPES,
  MANIFEST_MEDIA_TYPES,
  parseImageIndex,
  parseImageManifest,
  parseJson,
  tryParseDigest,
} from "../oci/index.ts";

/** A tag of a repository, as the page's Images pane lists it. */
export interface RegistryTag {
  tag: string;
  digest: Digest;
  mediaType: string;
  /** Bytes of the manifest and every blob it names (config and layers, compressed). */
  size: number;
}

export interface RegistryRepository {
  name: string;
  tags: RegistryTag[];
}

/** One event of distribution's notification envelope (`application/vnd.docker.distribution.events.v1+json`). */
export interface RegistryEvent {
  id: string;
  timestamp: string;
  action: "push" | "pull";
  target: {
    mediaType: string;
    size: number;
    digest: Digest;
    length: number;
    repository: string;
    url: string;
    tag?: string;
  };
  request: { id: string; addr: string; host: string; method: string; useragent: string };
  actor: { name?: string };
  source: { addr: string; instanceID: string };
}

/** What a subscriber gets: distribution's envelope, `{ events: [...] }`. */
export interface RegistryEnvelope {
  events: RegistryEvent[];
}

export const EVENTS_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json";

interface StoredManifest {
  mediaType: string;
  size: number;
  /** The blobs (or, for an index, manifests) it names. */
  references: Digest[];
}

interface RepositoryRecord {
  tags: Record<string, Digest>;
  manifests: Record<string, StoredManifest>;
  blobs: Digest[];
}

interface RegistryDocument {
  version: 1;
  repositories: Record<string, RepositoryRecord>;
}

const DOCUMENT = "registry.json";
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

export interface DistributionRegistryOptions {
  content: ContentStore;
  metadata: MetadataStore;
  /** The name it answers to in image references. Default `localhost:5000`. */
  host?: string;
}

/** A repository's record, made empty the first time something is pushed to it. */
function repositoryOf(document: RegistryDocument, name: string): RepositoryRecord {
  let record = document.repositories[name];
  if (!record) {
    record = { tags: {}, manifests: {}, blobs: [] };
    document.repositories[name] = record;
  }
  return record;
}

/** A registry error answer in the spec's shape. */
function failure(status: number, code: string, message: string, detail?: unknown): Response {
  return new Response(`${JSON.stringify({ errors: [{ code, message, detail: detail ?? null }] })}\n`, {
    status,
    headers: { "content-type": "application/json", "docker-distribution-api-version": "registry/2.0" },
  });
}

function randomId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * The engine's own registry.
 * @example
 * const registry = new DistributionRegistry({ content, metadata });
 * const unsubscribe = registry.subscribe(({ events }) => console.log(events[0]?.action, events[0]?.target.repository));
 * await registry.fetch(new Request("http://localhost:5000/v2/_catalog"));
 */
export class DistributionRegistry {
  readonly host: string;
  readonly #content: ContentStore;
  readonly #metadata: MetadataStore;
  readonly #uploads = new Map<string, { repository: string; writer: ContentWriter }>();
  readonly #listeners = new Set<(envelope: RegistryEnvelope) => void>();
  readonly #instance = randomId();
  #document: RegistryDocument | undefined;
  #lock: Promise<unknown> = Promise.resolve();

  constructor(options: DistributionRegistryOptions) {
    this.#content = options.content;
    this.#metadata = options.metadata;
    this.host = options.host ?? "localhost:5000";
  }

  /** Its base URL, as the registry client is pointed at it. */
  get url(): string {
    return `http://${this.host}`;
  }

  /**
   * Calls `listener` with an envelope for each push (a manifest put) and pull (a manifest fetched); returns the
   * function that unsubscribes.
   * @example
   * const stop = registry.subscribe(({ events }) => { if (events[0]?.action === "push") rebuild(); });
   */
  subscribe(listener: (envelope: RegistryEnvelope) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Repositories and their tags, with the size of what each tag names. */
  async repositories(): Promise<RegistryRepository[]> {
    const document = await this.#load();
    const repositories: RegistryRepository[] = [];
    for (const [name, repository] of Object.entries(document.repositories).sort(([a], [b]) => a.localeCompare(b))) {
      const tags: RegistryTag[] = [];
      for (const [tag, digest] of Object.entries(repository.tags).sort(([a], [b]) => a.localeCompare(b))) {
        const manifest = repository.manifests[digest];
        if (!manifest) continue;
        let size = manifest.size;
        for (const reference of manifest.references) {
          size += await this.#content.info(reference).then(
            (info) => info.size,
            () => 0,
          );
        }
        tags.push({ tag, digest, mediaType: manifest.mediaType, size });
      }
      repositories.push({ name, tags });
    }
    return repositories;
  }

  /** Every blob the registry holds: the image store's garbage collection must spare them. */
  async roots(): Promise<Digest[]> {
    const document = await this.#load();
    const digests = new Set<Digest>();
    for (const repository of Object.values(document.repositories)) {
      for (const digest of repository.blobs) digests.add(digest);
      for (const [digest, manifest] of Object.entries(repository.manifests)) {
        digests.add(digest as Digest);
        for (const reference of manifest.references) digests.add(reference);
      }
    }
    return [...digests];
  }

  /**
   * Answers one request of the distribution API (`/v2/…`).
   * @example
   * const response = await registry.fetch(new Request("http://localhost:5000/v2/app/tags/list"));
   */
  fetch = async (request: Request): Promise<Response> => {
    try {
      const response = await this.#route(request);
      response.headers.set("docker-distribution-api-version", "registry/2.0");
      return response;
    } catch (error) {
      if (isEngineError(error, "notFound")) return failure(404, "BLOB_UNKNOWN", error.message);
      if (isEngineError(error, "dataLoss") || isEngineError(error, "invalidArgument")) {
        return failure(400, "DIGEST_INVALID", error.message);
      }
      return failure(500, "UNKNOWN", error instanceof Error ? error.message : String(error));
    }
  };

  async #route(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const path = decodeURIComponent(url.pathname);
    const method = request.method;
    if (path === "/v2/" || path === "/v2") return Response.json({});
    if (path === "/v2/_catalog" && method === "GET") {
      return Response.json({ repositories: Object.keys((await this.#load()).repositories).sort() });
    }
    let match = /^\/v2\/(.+)\/tags\/list$/.exec(path);
    if (match && method === "GET") {
      const repository = (await this.#load()).repositories[match[1]!];
      if (!repository) return failure(404, "NAME_UNKNOWN", "repository name not known to registry", { name: match[1] });
      return Response.json({ name: match[1], tags: Object.keys(repository.tags).sort() });
    }
    match = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
    if (match) {
      const [, name, reference] = match as unknown as [string, string, string];
      if (method === "GET" || method === "HEAD") return this.#getManifest(request, name, reference);
      if (method === "PUT") return this.#putManifest(request, name, reference);
      return failure(405, "UNSUPPORTED", `${method} is not supported on manifests here`);
    }
    match = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(path);
    if (match) {
      const [, name, id] = match as unknown as [string, string, string];
      if (!NAME.test(name)) return failure(400, "NAME_INVALID", "invalid repository name", { name });
      if (method === "POST" && id === "") return this.#startUpload(request, url, name);
      const upload = this.#uploads.get(id);
      if (!upload || upload.repository !== name)
        return failure(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry");
      if (method === "PATCH") return this.#patchUpload(request, name, id);
      if (method === "PUT") return this.#finishUpload(request, url, name, id);
      if (method === "GET") return this.#uploadStatus(name, id, 204);
      if (method === "DELETE") {
        this.#uploads.delete(id);
        await upload.writer.abort();
        return new Response(null, { status: 204 });
      }
      return failure(405, "UNSUPPORTED", `${method} is not supported on uploads`);
    }
    match = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(path);
    if (match && (method === "GET" || method === "HEAD")) {
      const [, name, text] = match as unknown as [string, string, string];
      const digest = tryParseDigest(text);
      const repository = (await this.#load()).repositories[name];
      if (!digest || !repository || !this.#holds(repository, digest)) {
        return failure(404, "BLOB_UNKNOWN", "blob unknown to registry", { digest: text });
      }
      const info = await this.#content.info(digest);
      const headers = {
        "content-type": "application/octet-stream",
        "content-length": String(info.size),
        "docker-content-digest": digest,
        etag: `"${digest}"`,
      };
      if (method === "HEAD") return new Response(null, { status: 200, headers });
      const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.get("range") ?? "");
      if (range) {
        const start = Number(range[1]);
        const end = range[2] ? Math.min(Number(range[2]), info.size - 1) : info.size - 1;
        if (start > end) return new Response(null, { status: 416 });
        const body = await this.#content.read(digest, { offset: start, length: end - start + 1 });
        return new Response(body, {
          status: 206,
          headers: {
            ...headers,
            "content-length": String(end - start + 1),
            "content-range": `bytes ${start}-${end}/${info.size}`,
          },
        });
      }
      return new Response(await this.#content.read(digest), { status: 200, headers });
    }
    return failure(404, "UNSUPPORTED", `no route for ${method} ${url.pathname}`);
  }

  #holds(repository: RepositoryRecord, digest: Digest): boolean {
    return repository.blobs.includes(digest) || digest in repository.manifests;
  }

  // --- manifests -------------------------------------------------------------------------------------------------

  async #getManifest(request: Request, name: string, reference: string): Promise<Response> {
    const repository = (await this.#load()).repositories[name];
    if (!repository) return failure(404, "NAME_UNKNOWN", "repository name not known to registry", { name });
    const digest = tryParseDigest(reference) ?? repository.tags[reference];
    const manifest = digest && repository.manifests[digest];
    if (!digest || !manifest) {
      return failure(404, "MANIFEST_UNKNOWN", "manifest unknown", { name, reference });
    }
    const headers = {
      "content-type": manifest.mediaType,
      "content-length": String(manifest.size),
      "docker-content-digest": digest,
      etag: `"${digest}"`,
    };
    if (request.method === "HEAD") return new Response(null, { status: 200, headers });
    const bytes = await this.#content.readBytes(digest);
    this.#notify(request, "pull", name, { mediaType: manifest.mediaType, size: manifest.size, digest }, reference);
    return new Response(bytes as Uint8Array<ArrayBuffer>, { status: 200, headers });
  }

  async #putManifest(request: Request, name: string, reference: string): Promise<Response> {
    if (!NAME.test(name)) return failure(400, "NAME_INVALID", "invalid repository name", { name });
    const byDigest = tryParseDigest(reference);
    if (!byDigest && !TAG.test(reference))
      return failure(400, "TAG_INVALID", "manifest tag did not match URI", { tag: reference });
    const bytes = new Uint8Array(await request.arrayBuffer());
    if (bytes.byteLength > MAX_MANIFEST_BYTES) return failure(400, "MANIFEST_INVALID", "manifest too large");
    const digest = digestOf(bytes);
    if (byDigest && byDigest !== digest) {
      return failure(400, "DIGEST_INVALID", "provided digest did not match uploaded content", { digest: reference });
    }
    let mediaType = request.headers.get("content-type")?.split(";")[0]?.trim() ?? "";
    let references: Digest[];
    try {
      const value = parseJson(bytes, "manifest") as { mediaType?: unknown };
      if (typeof value.mediaType === "string") mediaType = value.mediaType;
      if (INDEX_MEDIA_TYPES.includes(mediaType)) {
        references = parseImageIndex(value).manifests.map((entry) => entry.digest);
      } else if (MANIFEST_MEDIA_TYPES.includes(mediaType)) {
        const manifest = parseImageManifest(value);
        references = [manifest.config, ...manifest.layers].map((blob: Descriptor) => blob.digest);
      } else {
        return failure(400, "MANIFEST_INVALID", `manifest media type ${mediaType || "(none)"} is not supported`);
      }
    } catch (error) {
      return failure(400, "MANIFEST_INVALID", error instanceof Error ? error.message : "manifest invalid");
    }
    const repository = (await this.#load()).repositories[name];
    const missing: Digest[] = [];
    for (const blob of references) {
      if (!repository || !this.#holds(repository, blob) || !(await hasContent(this.#content, blob))) missing.push(blob);
    }
    if (missing.length > 0) {
      return failure(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", { digest: missing[0] });
    }
    await writeBlob(this.#content, bytes, { digest, size: bytes.byteLength });
    await this.#update((document) => {
      const record = repositoryOf(document, name);
      record.manifests[digest] = { mediaType, size: bytes.byteLength, references };
      if (!byDigest) record.tags[reference] = digest;
    });
    this.#notify(
      request,
      "push",
      name,
      { mediaType, size: bytes.byteLength, digest },
      byDigest ? undefined : reference,
    );
    return new Response(null, {
      status: 201,
      headers: { location: `/v2/${name}/manifests/${digest}`, "docker-content-digest": digest },
    });
  }

  // --- uploads ---------------------------------------------------------------------------------------------------

  async #startUpload(request: Request, url: URL, name: string): Promise<Response> {
    const mount = tryParseDigest(url.searchParams.get("mount") ?? "");
    const from = url.searchParams.get("from");
    if (mount && from) {
      const source = (await this.#load()).repositories[from];
      if (source && this.#holds(source, mount) && (await hasContent(this.#content, mount))) {
        await this.#link(name, mount);
        return new Response(null, {
          status: 201,
          headers: { location: `/v2/${name}/blobs/${mount}`, "docker-content-digest": mount },
        });
      }
    }
    const id = randomId();
    this.#uploads.set(id, { repository: name, writer: await this.#content.writer() });
    const digest = tryParseDigest(url.searchParams.get("digest") ?? "");
    if (digest) return this.#finishUpload(request, url, name, id);
    await request.body?.cancel();
    return this.#uploadStatus(name, id, 202);
  }

  #uploadStatus(name: string, id: string, status: number): Response {
    const upload = this.#uploads.get(id)!;
    return new Response(null, {
      status,
      headers: {
        location: `/v2/${name}/blobs/uploads/${id}`,
        range: `0-${Math.max(0, upload.writer.offset - 1)}`,
        "docker-upload-uuid": id,
        "content-length": "0",
      },
    });
  }

  async #append(request: Request, id: string): Promise<void> {
    const upload = this.#uploads.get(id)!;
    if (!request.body) return;
    const reader = request.body.getReader();
    for (let next = await reader.read(); !next.done; next = await reader.read()) await upload.writer.write(next.value);
  }

  async #patchUpload(request: Request, name: string, id: string): Promise<Response> {
    const upload = this.#uploads.get(id)!;
    const range = /^(?:bytes=)?(\d+)-(\d+)$/.exec(request.headers.get("content-range") ?? "");
    if (range && Number(range[1]) !== upload.writer.offset) {
      await request.body?.cancel();
      return new Response(null, { status: 416, headers: { range: `0-${Math.max(0, upload.writer.offset - 1)}` } });
    }
    await this.#append(request, id);
    return this.#uploadStatus(name, id, 202);
  }

  async #finishUpload(request: Request, url: URL, name: string, id: string): Promise<Response> {
    const upload = this.#uploads.get(id)!;
    const digest = tryParseDigest(url.searchParams.get("digest") ?? "");
    if (!digest) {
      return failure(400, "DIGEST_INVALID", "the upload's closing PUT names no digest (?digest=)");
    }
    await this.#append(request, id);
    this.#uploads.delete(id);
    try {
      await upload.writer.commit({ digest, size: upload.writer.offset });
    } catch (error) {
      await upload.writer.abort();
      if (isEngineError(error)) {
        return failure(400, "DIGEST_INVALID", "provided digest did not match uploaded content", { digest });
      }
      throw error;
    }
    await this.#link(name, digest);
    return new Response(null, {
      status: 201,
      headers: { location: `/v2/${name}/blobs/${digest}`, "docker-content-digest": digest },
    });
  }

  async #link(name: string, digest: Digest): Promise<void> {
    await this.#update((document) => {
      const record = repositoryOf(document, name);
      if (!record.blobs.includes(digest)) record.blobs.push(digest);
    });
  }

  // --- notifications and metadata --------------------------------------------------------------------------------

  #notify(
    request: Request,
    action: RegistryEvent["action"],
    repository: string,
    target: { mediaType: string; size: number; digest: Digest },
    tag: string | undefined,
  ): void {
    if (this.#listeners.size === 0) return;
    const event: RegistryEvent = {
      id: randomId(),
      timestamp: new Date().toISOString(),
      action,
      target: {
        ...target,
        length: target.size,
        repository,
        url: `${this.url}/v2/${repository}/manifests/${target.digest}`,
        ...(tag ? { tag } : {}),
      },
      request: {
        id: randomId(),
        addr: "engine",
        host: this.host,
        method: request.method,
        useragent: request.headers.get("user-agent") ?? "drydock",
      },
      actor: {},
      source: { addr: this.host, instanceID: this.#instance },
    };
    for (const listener of this.#listeners) {
      try {
        listener({ events: [event] });
      } catch {
        // A subscriber's failure is its own; the push succeeded.
      }
    }
  }

  async #load(): Promise<RegistryDocument> {
    if (this.#document) return this.#document;
    const bytes = await this.#metadata.read(DOCUMENT);
    if (bytes === undefined) {
      this.#document = { version: 1, repositories: {} };
    } else {
      const value = parseJson(bytes, "registry metadata") as Partial<RegistryDocument>;
      if (value.version !== 1 || typeof value.repositories !== "object") {
        throw new EngineError("dataLoss", "the registry's metadata (registry.json) is not in a format Drydock knows");
      }
      this.#document = value as RegistryDocument;
    }
    return this.#document;
  }

  async #update(change: (document: RegistryDocument) => void): Promise<void> {
    const run = this.#lock.then(async () => {
      const document = await this.#load();
      change(document);
      await this.#metadata.write(DOCUMENT, new TextEncoder().encode(JSON.stringify(document)));
    });
    this.#lock = run.catch(() => {});
    return run;
  }
}
