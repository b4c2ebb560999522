// Pulling, listing and removing images, without a guest: the part of Drydock a page's worker or a Node program can
// use before (or instead of) booting the machine. Storage is memory, the browser's OPFS, or one passed in
// (engine/node's openNodeImageService uses the file system).
import {
  type ContentStore,
  MemoryContentStore,
  MemoryMetadataStore,
  type MetadataStore,
  OpfsContentStore,
  OpfsMetadataStore,
} from "./content/index.ts";
import { DistributionRegistry } from "./distribution/index.ts";
import { EventLog } from "./events.ts";
import {
  type HistoryItem,
  type ImageDetails,
  ImageStore,
  type ImageSummary,
  type LayerProgress,
  type LayerStep,
  type LoadedImage,
  loadImages,
  type PushedTag,
  type PushProgress,
  pushImage,
  type RemovedItem,
  saveImages,
} from "./images/index.ts";
import {
  type Digest,
  defaultHasherFactory,
  familiarReference,
  type HasherFactory,
  type HashPort,
  type ImageReference,
  loadWasmHashers,
  offloadHashing,
  type Platform,
  parseReference,
  registryBaseUrl,
} from "./oci/index.ts";
import {
  type Credentials,
  proxyEndpoint,
  RegistryClient,
  type RegistryEndpoint,
  type RegistryRequest,
} from "./registry/index.ts";

export type {
  Credentials,
  HistoryItem,
  ImageDetails,
  ImageSummary,
  LayerProgress,
  LayerStep,
  LoadedImage,
  PushedTag,
  PushProgress,
  RegistryRequest,
  RemovedItem,
};

/**
 * The registry host a `docker login` server address names: `https://index.docker.io/v1/` and other spellings of
 * Docker Hub are `docker.io`; a scheme and path are dropped (`http://localhost:5000/v2/` → `localhost:5000`).
 * @example
 * registryHost("https://index.docker.io/v1/"); // "docker.io"
 */
export function registryHost(serverAddress: string | undefined): string {
  const text = (serverAddress ?? "").trim();
  if (text === "") return "docker.io";
  const host = text
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, "")
    .replace(/\/.*$/, "")
    .toLowerCase();
  if (host === "index.docker.io" || host === "registry-1.docker.io" || host === "docker.io") return "docker.io";
  return host;
}

/** Where images are kept: in memory (gone with the page), in OPFS (kept per origin), or stores you made. */
export type ImageStorage =
  | "memory"
  | "opfs"
  | { content: ContentStore; metadata: MetadataStore; hashers?: HasherFactory };

export interface ImageServiceOptions {
  /** Defaults to "memory". */
  storage?: ImageStorage;
  /**
   * A registry proxy (web/proxy) to send every request through, as browsers must (registries send no CORS headers).
   * Without one, registries are contacted directly (fine in Node).
   */
  proxy?: string;
  /** Credentials per registry host (`docker.io`, `ghcr.io`, `localhost:5000`), passed through, never stored. */
  credentials?: (registry: string) => Credentials | undefined;
  /** Layers downloaded at once (default 3). */
  concurrency?: number;
  /** Replaces the global fetch (tests, or a fetch with custom TLS in Node). */
  fetch?: typeof fetch;
  /** Called for every HTTP request made to a registry: the trace of a pull. */
  onRequest?: (request: RegistryRequest) => void;
  /**
   * Where each reference's registry is reached; overrides `proxy`. A mirror for tests and offline classrooms:
   * `(ref) => ({ baseUrl: "http://localhost:5000", repository: ref.repository })` serves docker.io's names locally.
   */
  endpoint?: (reference: ImageReference) => RegistryEndpoint;
  /**
   * The registry the engine serves from its own store (engine/distribution): `docker push localhost:5000/app` and
   * pulls of that name stay inside the engine, offline. Its host is `localhost:5000` unless given; false turns it
   * off (then that name is a registry on the network like any other). With `remote`, that name is another engine's
   * registry, reached through `remote` (the page's node2… use node1's, as a swarm's nodes use one registry service
   * published on every node): this engine keeps none of its own.
   */
  registry?: { host?: string; remote?: (request: Request) => Promise<Response> } | false;
  /**
   * Starts a hashing worker (engine/oci/hash-offload) for the "memory" and "opfs" stores: a blob's, a layer tar's
   * and each large file's SHA-2 are computed there, beside the pull's own thread, and awaited before each commit.
   * Called at the first stream that needs it. Without it (Node, tests) every hash is on the caller's thread.
   */
  hashWorker?: () => HashPort;
}

export interface PullResult {
  /** The name the image is stored under, as Docker shows it: `alpine:latest`. */
  name: string;
  /** The image ID (config digest). */
  id: Digest;
  /** The digest the registry resolved the reference to (index or manifest): pin it with `name@digest`. */
  digest: Digest;
  /** True when the stored image was already current and nothing was downloaded. */
  upToDate: boolean;
  details: ImageDetails;
}

/** The last pull's layers and their timed steps, for a waterfall (performance.now() milliseconds). */
export interface PullTimeline {
  reference: string;
  start: number;
  end?: number;
  /** In the manifest's order; `existed`: already stored, not downloaded. */
  layers: { digest: string; size: number; existed: boolean }[];
  steps: LayerStep[];
}

/**
 * Images without a guest: pull from real registries, list, inspect and remove.
 * @example
 * const images = await ImageService.open({ storage: "opfs", proxy: "/registry" });
 * await images.pull("alpine:3.20", {
 *   onProgress: ({ id, status, done, total }) => console.log(id, status, done, total),
 * });
 * console.log(await images.images());
 */
export class ImageService {
  /** The most recent pull (the guest's `docker pull` included), as it went. */
  lastPull: PullTimeline | undefined;

  /** What happened to images (pull, tag, untag, delete); ContainerService adds its containers' by default. */
  readonly events = new EventLog();
  /** Credentials given for one pull or push (`X-Registry-Auth`), by registry host, while it runs. */
  readonly #pullCredentials: Map<string, Credentials>;
  /** Credentials of `docker login`, by registry host: in memory only, gone when the page or daemon stops. */
  readonly #logins: Map<string, Credentials>;
  readonly #registry: RegistryClient;
  readonly #content: ContentStore;

  private constructor(
    readonly store: ImageStore,
    /** The engine's own registry (`localhost:5000`), unless turned off. */
    readonly registry: DistributionRegistry | undefined,
    content: ContentStore,
    client: RegistryClient,
    pullCredentials: Map<string, Credentials>,
    logins: Map<string, Credentials>,
  ) {
    this.#registry = client;
    this.#content = content;
    this.#pullCredentials = pullCredentials;
    this.#logins = logins;
  }

  /**
   * Opens image storage and a registry client.
   * @example
   * const images = await ImageService.open(); // in memory, registries contacted directly
   */
  static async open(options: ImageServiceOptions = {}): Promise<ImageService> {
    const storage = options.storage ?? "memory";
    let content: ContentStore;
    let metadata: MetadataStore;
    let hashers: HasherFactory | undefined;
    if (storage === "memory" || storage === "opfs") {
      // WebAssembly SHA-2 where it loads (a page whose policy forbids WebAssembly keeps the portable one).
      hashers = await loadWasmHashers().catch(() => undefined);
      if (options.hashWorker) hashers = offloadHashing(options.hashWorker, hashers ?? defaultHasherFactory);
    }
    if (storage === "memory") {
      content = new MemoryContentStore(hashers ? { hashers } : {});
      metadata = new MemoryMetadataStore();
    } else if (storage === "opfs") {
      content = await OpfsContentStore.open(hashers ? { hashers } : {});
      metadata = await OpfsMetadataStore.open();
    } else {
      ({ content, metadata, hashers } = storage);
    }
    const pullCredentials = new Map<string, Credentials>();
    const logins = new Map<string, Credentials>();
    const remote = options.registry ? options.registry.remote : undefined;
    const local =
      options.registry === false || remote
        ? undefined
        : new DistributionRegistry({
            content,
            metadata,
            ...(options.registry?.host ? { host: options.registry.host } : {}),
          });
    // The host that names the engine's registry (its own, or the one `remote` reaches), and where it is asked.
    const ownHost =
      options.registry === false ? undefined : (local?.host ?? options.registry?.host ?? "localhost:5000");
    const ownUrl = ownHost ? `http://${ownHost}` : undefined;
    const own = local ? (request: Request) => local.fetch(request) : remote;
    const outside = options.fetch ?? ((input: string | URL | Request, init?: RequestInit) => fetch(input, init));
    const endpoint = options.endpoint ?? (options.proxy ? proxyEndpoint(options.proxy) : undefined);
    const registry = new RegistryClient({
      // Requests for the engine's own registry never leave it.
      fetch: (input, init) => {
        const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
        if (own && ownUrl && url.startsWith(`${ownUrl}/`)) return own(new Request(url, init));
        return outside(input, init);
      },
      credentials: (host) => pullCredentials.get(host) ?? logins.get(host) ?? options.credentials?.(host),
      endpoint: (reference) => {
        if (own && ownUrl && reference.registry === ownHost) {
          return { baseUrl: ownUrl, repository: reference.repository };
        }
        return endpoint
          ? endpoint(reference)
          : { baseUrl: registryBaseUrl(reference.registry), repository: reference.repository };
      },
      onRequest: options.onRequest,
    });
    return new ImageService(
      new ImageStore({
        content,
        metadata,
        registry,
        hashers,
        concurrency: options.concurrency,
        ...(local ? { roots: () => local.roots() } : {}),
      }),
      local,
      content,
      registry,
      pullCredentials,
      logins,
    );
  }

  /**
   * Pulls an image for the guest's platform (linux/386; else wasi/wasm, or the `platform` asked for), like `docker pull`. Layers arrive several at once, each
   * verified and unpacked as it streams; progress is reported per layer.
   * @example
   * const { name, digest } = await images.pull("busybox", { onProgress: (p) => bar.update(p.id, p.done, p.total) });
   */
  async pull(
    reference: string,
    options: {
      onProgress?: (progress: LayerProgress) => void;
      /** Each layer's timed download, unpack and verify steps (the inspector's waterfall). */
      onStep?: (step: LayerStep) => void;
      signal?: AbortSignal;
      /** `docker pull --platform`: `linux/386` or `wasi/wasm`. */
      platform?: Platform;
      /**
       * Credentials for this pull only (the Engine API's `X-Registry-Auth`), used for the reference's registry while
       * the pull runs; a pull from the same registry meanwhile uses them too.
       */
      credentials?: Credentials;
    } = {},
  ): Promise<PullResult> {
    const parsed = parseReference(reference);
    const { credentials, ...pullOptions } = options;
    const timeline: PullTimeline = { reference, start: performance.now(), steps: [], layers: [] };
    this.lastPull = timeline;
    pullOptions.onStep = (step) => {
      timeline.steps.push(step);
      options.onStep?.(step);
    };
    const onProgress = options.onProgress;
    pullOptions.onProgress = (progress) => {
      if (!timeline.layers.some((layer) => layer.digest === progress.digest))
        timeline.layers.push({ digest: progress.digest, size: progress.total, existed: progress.status === "exists" });
      onProgress?.(progress);
    };
    if (credentials) this.#pullCredentials.set(parsed.registry, credentials);
    try {
      const { upToDate, ...details } = await this.store.pull(parsed, pullOptions);
      timeline.end = performance.now();
      const name = familiarReference(parseReference(details.record.name));
      this.events.emit({ type: "image", action: "pull", id: name, attributes: { name } });
      return { name, id: details.record.config.digest, digest: details.record.target.digest, upToDate, details };
    } finally {
      if (credentials && this.#pullCredentials.get(parsed.registry) === credentials) {
        this.#pullCredentials.delete(parsed.registry);
      }
    }
  }

  /**
   * Pushes an image to its registry, like `docker push`: one tag, or every tag of the repository when the reference
   * names none. Layers the registry has are skipped, those another repository of it has are mounted.
   * @example
   * await images.tag("busybox", "localhost:5000/tools:1");
   * const [pushed] = await images.push("localhost:5000/tools:1", { onProgress: (p) => console.log(p.id, p.status) });
   */
  async push(
    reference: string,
    options: {
      onTag?: (tag: string) => void;
      onProgress?: (progress: PushProgress) => void;
      onPushed?: (pushed: PushedTag) => void;
      signal?: AbortSignal;
      /** Credentials for this push only (`X-Registry-Auth`); otherwise those of `login`. */
      credentials?: Credentials;
      /** PATCH chunk size for big blobs. */
      chunkSize?: number;
    } = {},
  ): Promise<PushedTag[]> {
    const parsed = parseReference(reference);
    // A reference without a tag pushes every tag; parseReference fills in latest, so look at what was written.
    const named = /:[^/]+$/.test(reference.replace(/@.*$/, "")) ? parsed.tag : undefined;
    const { credentials, ...pushOptions } = options;
    if (credentials) this.#pullCredentials.set(parsed.registry, credentials);
    try {
      const pushed = await pushImage(this.store, this.#registry, parsed, {
        ...pushOptions,
        ...(named !== undefined ? { tag: named } : {}),
      });
      for (const item of pushed) {
        this.events.emit({ type: "image", action: "push", id: item.name, attributes: { name: item.name } });
      }
      return pushed;
    } finally {
      if (credentials && this.#pullCredentials.get(parsed.registry) === credentials) {
        this.#pullCredentials.delete(parsed.registry);
      }
    }
  }

  /**
   * The named images as one tar (`docker save`): an OCI image layout with docker's manifest.json beside it.
   * @example
   * const tar = await images.save(["busybox"]);
   */
  save(names: readonly string[]): Promise<ReadableStream<Uint8Array>> {
    return saveImages(this.store, names);
  }

  /**
   * Stores the images of a `docker save` archive or an OCI layout tar (`docker load`), keeping their IDs and names.
   * @example
   * for (const image of await images.load(tar)) console.log(image.message); // Loaded image: busybox:latest
   */
  async load(archive: ReadableStream<Uint8Array>): Promise<LoadedImage[]> {
    const loaded = await loadImages(this.store, this.#content, archive);
    for (const image of loaded) {
      this.events.emit({
        type: "image",
        action: "load",
        id: image.id,
        attributes: { name: image.names[0] ?? image.id },
      });
    }
    return loaded;
  }

  /**
   * Checks credentials with a registry and keeps them, in memory only, for later pulls and pushes (`docker login`).
   * Returns the registry host they are kept for.
   * @example
   * await images.login("localhost:5000", { username: "me", password: "secret" }); // "localhost:5000"
   */
  async login(serverAddress: string | undefined, credentials: Credentials): Promise<string> {
    const host = registryHost(serverAddress);
    await this.#registry.login(host, credentials);
    this.#logins.set(host, credentials);
    return host;
  }

  /**
   * Forgets the credentials and tokens of a registry (`docker logout`). Returns whether there were any.
   * @example
   * images.logout("localhost:5000"); // true
   */
  logout(serverAddress: string | undefined): boolean {
    const host = registryHost(serverAddress);
    this.#registry.forget(host);
    return this.#logins.delete(host);
  }

  /** The registry hosts `login` holds credentials for (never the credentials themselves). */
  loggedIn(): string[] {
    return [...this.#logins.keys()].sort();
  }

  /**
   * Gives an image another name, like `docker tag`; a tag without one is `latest`.
   * @example
   * await images.tag("busybox", "localhost:5000/tools:1"); // { id: "sha256:…", name: "localhost:5000/tools:1" }
   */
  async tag(source: string, target: string): Promise<{ id: Digest; name: string }> {
    const tagged = await this.store.tag(source, target);
    this.events.emit({ type: "image", action: "tag", id: tagged.id, attributes: { name: tagged.name } });
    return tagged;
  }

  /**
   * Lists images like `docker images`: one entry per image ID, with its tags and digests.
   * @example
   * for (const image of await images.images()) console.log(image.repoTags.join(", "), image.size);
   */
  images(): Promise<ImageSummary[]> {
    return this.store.list();
  }

  /**
   * Config and layers of an image, by name or ID.
   * @example
   * const { config } = await images.image("busybox");
   * config.config?.Cmd; // ["sh"]
   */
  image(nameOrId: string): Promise<ImageDetails> {
    return this.store.get(nameOrId);
  }

  /**
   * How an image was built, newest step first, like `docker history`.
   * @example
   * for (const step of await images.history("busybox")) console.log(step.createdBy, step.size);
   */
  history(nameOrId: string): Promise<HistoryItem[]> {
    return this.store.history(nameOrId);
  }

  /**
   * Removes an image name (or, with an ID, all its names; `force` when there are several), like `docker rmi`, and
   * frees what no other image uses.
   * @example
   * await images.removeImage("alpine:3.20"); // [{ untagged: "alpine:3.20" }, { deleted: "sha256:…" }]
   */
  async removeImage(nameOrId: string, options: { force?: boolean } = {}): Promise<RemovedItem[]> {
    // Docker names the image ID in an untag event, even when the image stays under other names.
    const id = (await this.store.get(nameOrId).catch(() => undefined))?.record.config.digest;
    const removed = await this.store.remove(nameOrId, options);
    for (const item of removed) {
      if ("untagged" in item) {
        this.events.emit({
          type: "image",
          action: "untag",
          id: id ?? item.untagged,
          attributes: { name: item.untagged },
        });
      } else {
        this.events.emit({ type: "image", action: "delete", id: item.deleted, attributes: { name: item.deleted } });
      }
    }
    return removed;
  }
}
