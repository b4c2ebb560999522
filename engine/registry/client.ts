// A client for the OCI distribution API over `fetch`: resolve a reference to the linux/386 manifest and its config,
// and stream blobs with retries and Range resume. Auth follows the registry's 401 challenge: anonymous or
// credentialed bearer tokens (cached per scope) or Basic credentials.
import { EngineError, isEngineError } from "../errors.ts";
import {
  type Descriptor,
  type Digest,
  digestOf,
  familiarReference,
  formatPlatform,
  GUEST_PLATFORM,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type ImageReference,
  isWasmArtifactConfig,
  MANIFEST_ACCEPT,
  MANIFEST_MEDIA_TYPES,
  type ManifestDocument,
  type Platform,
  parseImageConfig,
  parseJson,
  parseManifestDocument,
  platformMatches,
  registryBaseUrl,
  tryParseDigest,
  verifyBytes,
  WASI_PLATFORM,
  wasmArtifactConfig,
} from "../oci/index.ts";
import { type Challenge, challengeParam, isScheme, parseChallenges } from "./challenge.ts";
import { registryError } from "./errors.ts";
import { readLimited } from "./limited.ts";
import { DEFAULT_RETRY_POLICY, isRetryableStatus, type RetryPolicy, retryDelay } from "./retry.ts";

export interface Credentials {
  username: string;
  password: string;
}

/** Where to send a reference's requests: the registry's API base URL and the repository name it knows. */
export interface RegistryEndpoint {
  baseUrl: string;
  repository: string;
}

/** One HTTP request the client made, for the trace a learner sees (`GET /v2/library/alpine/manifests/3.20`). */
export interface RegistryRequest {
  method: string;
  url: string;
}

export interface RegistryClientOptions {
  /** The fetch to use: the global one by default; tests pass a fake. */
  fetch?: typeof fetch;
  /** Credentials for a registry host (`docker.io`, `localhost:5000`), if the user gave some. */
  credentials?: (registry: string) => Credentials | undefined;
  /** Maps a reference to the URL to reach it at; by default the registry itself (see {@link proxyEndpoint}). */
  endpoint?: (reference: ImageReference) => RegistryEndpoint;
  retry?: Partial<RetryPolicy>;
  /** The platform to pick from an index; by default the guest's, linux/386, or else wasi/wasm. */
  platform?: Platform;
  onRequest?: (request: RegistryRequest) => void;
}

/** One request of {@link RegistryClient.exchange}: to `path` under the repository, or to a `url` a registry gave. */
export interface RegistryExchange {
  method: string;
  path?: string;
  /** An upload's Location, absolute or relative to the registry. */
  url?: string;
  /** What is asked for, in a user's words, for messages. */
  what: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** The actions on the repository to ask a token for: `pull` (default) or `pull,push`. */
  actions?: string;
  /** More token scopes (`repository:other:pull` for a cross-repository mount). */
  scopes?: string[];
  /** Statuses that are answers, not errors. */
  accept?: (status: number) => boolean;
  signal?: AbortSignal;
}

export interface ResolvedManifest {
  descriptor: Descriptor;
  bytes: Uint8Array;
  document: ManifestDocument;
}

/** Everything about an image but its layers: what `docker pull` knows before the first layer byte. */
export interface ResolvedImage {
  reference: ImageReference;
  /** What the reference resolved to: an index, or the manifest itself for single-platform images. */
  target: Descriptor;
  index?: { descriptor: Descriptor; bytes: Uint8Array; index: ImageIndex };
  manifest: { descriptor: Descriptor; bytes: Uint8Array; manifest: ImageManifest };
  config: { descriptor: Descriptor; bytes: Uint8Array; config: ImageConfig };
}

export interface BlobProgress {
  /** Bytes received so far (resumed bytes are not counted twice). */
  done: number;
  total: number;
}

export interface FetchBlobOptions {
  onProgress?: (progress: BlobProgress) => void;
  signal?: AbortSignal;
}

/** Docker refuses manifests over 4 MiB; so does Drydock, so a hostile registry cannot make it buffer gigabytes. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/**
 * Sends every reference through a registry proxy (such as web/proxy): repository `<registry>/<repository>` on the
 * proxy stands for `<repository>` on `<registry>`.
 * @example
 * new RegistryClient({ endpoint: proxyEndpoint("https://drydock.example/registry") });
 */
export function proxyEndpoint(proxyUrl: string): (reference: ImageReference) => RegistryEndpoint {
  const baseUrl = proxyUrl.replace(/\/+$/, "");
  return (reference) => ({ baseUrl, repository: `${reference.registry}/${reference.repository}` });
}

function defaultEndpoint(reference: ImageReference): RegistryEndpoint {
  return { baseUrl: registryBaseUrl(reference.registry), repository: reference.repository };
}

function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/**
 * A client for one or more registries. It remembers each registry's auth challenge and its tokens, so keep one per
 * engine.
 * @example
 * const client = new RegistryClient();
 * const image = await client.resolveImage(parseReference("busybox"));
 * const layer = client.fetchBlob(image.reference, image.manifest.manifest.layers[0]!);
 */
export class RegistryClient {
  readonly #fetch: typeof fetch;
  readonly #options: RegistryClientOptions;
  readonly #retry: RetryPolicy;
  readonly #platforms: Platform[];
  /** The last challenge each API base URL answered with, so later requests authenticate up front. */
  readonly #challenges = new Map<string, Challenge>();
  readonly #tokens = new Map<string, CachedToken>();

  constructor(options: RegistryClientOptions = {}) {
    this.#options = options;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.#platforms = options.platform ? [options.platform] : [GUEST_PLATFORM, WASI_PLATFORM];
  }

  /**
   * Fetches the manifest or index a reference names (by digest if it pins one, else by tag) and checks its digest.
   * @example
   * const { descriptor, document } = await client.resolve(parseReference("alpine:3.20"));
   */
  async resolve(reference: ImageReference): Promise<ResolvedManifest> {
    const target = reference.digest ?? reference.tag ?? "latest";
    const what = `manifest for ${familiarReference(reference)}`;
    const response = await this.#send(reference, "GET", `manifests/${target}`, what, {
      accept: MANIFEST_ACCEPT.join(", "),
    });
    const bytes = await readLimited(response, MAX_MANIFEST_BYTES, what);
    let digest: Digest;
    if (reference.digest !== undefined) {
      verifyBytes(bytes, { digest: reference.digest }, what);
      digest = reference.digest;
    } else {
      digest = digestOf(bytes);
      const header = response.headers.get("docker-content-digest");
      const announced = header ? tryParseDigest(header) : undefined;
      if (announced !== undefined && announced !== digest && announced.startsWith("sha256:")) {
        throw new EngineError("dataLoss", `${what}: the registry announced digest ${announced} but sent ${digest}`);
      }
    }
    const document = parseManifestDocument(bytes, response.headers.get("content-type") ?? undefined, what);
    return { descriptor: { mediaType: document.mediaType, digest, size: bytes.byteLength }, bytes, document };
  }

  /**
   * Asks which manifest a reference names now, without downloading it (HEAD): how `docker pull` decides an image is
   * up to date. Docker Hub does not count HEAD requests against its pull limit. Returns undefined when the registry
   * does not say the digest.
   * @example
   * const current = await client.head(parseReference("alpine"));
   * if (current?.digest === stored.digest) console.log("Image is up to date");
   */
  async head(reference: ImageReference): Promise<Descriptor | undefined> {
    const target = reference.digest ?? reference.tag ?? "latest";
    const what = `manifest for ${familiarReference(reference)}`;
    const response = await this.#send(reference, "HEAD", `manifests/${target}`, what, {
      accept: MANIFEST_ACCEPT.join(", "),
    });
    await response.body?.cancel();
    const digest = tryParseDigest(response.headers.get("docker-content-digest") ?? "");
    if (digest === undefined) return undefined;
    return {
      mediaType: response.headers.get("content-type")?.split(";")[0]?.trim() ?? "",
      digest,
      size: Number(response.headers.get("content-length") ?? 0),
    };
  }

  /** Fetches the manifest a descriptor points at, checking size and digest. */
  async fetchManifest(reference: ImageReference, descriptor: Descriptor): Promise<ResolvedManifest> {
    const what = `manifest ${descriptor.digest} of ${familiarReference(reference)}`;
    if (descriptor.size > MAX_MANIFEST_BYTES) {
      throw new EngineError("invalidArgument", `${what} is ${descriptor.size} bytes, more than the allowed`);
    }
    const response = await this.#send(reference, "GET", `manifests/${descriptor.digest}`, what, {
      accept: MANIFEST_ACCEPT.join(", "),
    });
    const bytes = await readLimited(response, MAX_MANIFEST_BYTES, what);
    verifyBytes(bytes, descriptor, what);
    const document = parseManifestDocument(bytes, response.headers.get("content-type") ?? descriptor.mediaType, what);
    return { descriptor: { ...descriptor, mediaType: document.mediaType }, bytes, document };
  }

  /**
   * Resolves a reference to the manifest and config for `platform` (by default the guest's, linux/386, or else
   * wasi/wasm, which Drydock runs beside it). Index entries of other platforms, such as the `unknown/unknown`
   * attestations buildx adds, are passed over. Throws notFound, listing the platforms the image does have, when none
   * fits.
   * @example
   * const image = await client.resolveImage(parseReference("busybox"));
   * image.config.config.rootfs.diff_ids;
   */
  async resolveImage(reference: ImageReference, platform?: Platform): Promise<ResolvedImage> {
    const wanted = platform ? [platform] : this.#platforms;
    const top = await this.resolve(reference);
    let index: ResolvedImage["index"];
    let chosen: ResolvedManifest = top;
    if (top.document.kind === "index") {
      const entries = top.document.index.manifests;
      index = { descriptor: top.descriptor, bytes: top.bytes, index: top.document.index };
      const fits = (want: Platform) =>
        entries.find(
          (entry) =>
            entry.platform !== undefined &&
            platformMatches(entry.platform, want) &&
            MANIFEST_MEDIA_TYPES.includes(entry.mediaType),
        );
      const match = wanted.map(fits).find((entry) => entry !== undefined);
      if (match === undefined) {
        throw this.#noPlatform(
          reference,
          entries.flatMap((entry) => (entry.platform ? [entry.platform] : [])),
          wanted,
        );
      }
      chosen = await this.fetchManifest(reference, match);
      if (chosen.document.kind !== "manifest") {
        throw new EngineError(
          "invalidArgument",
          `${familiarReference(reference)}: the index entry for ${formatPlatform(match.platform!)} is itself an index`,
        );
      }
    }
    if (chosen.document.kind !== "manifest") throw new EngineError("internal", "unreachable: index after index");
    const manifest = chosen.document.manifest;
    const configWhat = `config ${manifest.config.digest} of ${familiarReference(reference)}`;
    if (manifest.config.size > MAX_CONFIG_BYTES) {
      throw new EngineError("invalidArgument", `${configWhat} is ${manifest.config.size} bytes, too large`);
    }
    const configBytes = await this.fetchBlobBytes(reference, manifest.config);
    const config = isWasmArtifactConfig(manifest.config.mediaType)
      ? wasmArtifactConfig(parseJson(configBytes, configWhat), manifest.layers, configWhat)
      : parseImageConfig(parseJson(configBytes, configWhat), configWhat);
    if (!wanted.some((want) => platformMatches(config, want))) throw this.#noPlatform(reference, [config], wanted);
    if (config.rootfs.diff_ids.length !== manifest.layers.length) {
      throw new EngineError(
        "invalidArgument",
        `${familiarReference(reference)}: the manifest lists ${manifest.layers.length} layers but the config has ${config.rootfs.diff_ids.length} diff ids`,
      );
    }
    return {
      reference,
      target: top.descriptor,
      index,
      manifest: { descriptor: chosen.descriptor, bytes: chosen.bytes, manifest },
      config: { descriptor: manifest.config, bytes: configBytes, config },
    };
  }

  #noPlatform(reference: ImageReference, platforms: Platform[], wanted: Platform[]): EngineError {
    const names = [...new Set(platforms.filter((platform) => platform.os !== "unknown").map(formatPlatform))];
    const asked = wanted.map(formatPlatform).join(" or ");
    return new EngineError(
      "notFound",
      `${familiarReference(reference)} has no ${asked} image (it has ${names.join(", ") || "no platform"}). ` +
        "Drydock's guest is a 32-bit x86 (i386) Linux, so it runs linux/386 images " +
        "(alpine, busybox, debian, nginx, redis and python have one), and WebAssembly (wasi/wasm) images beside it.",
    );
  }

  /** Fetches a small blob (a config) into memory and checks its size and digest. */
  async fetchBlobBytes(reference: ImageReference, descriptor: Descriptor): Promise<Uint8Array> {
    const bytes = new Uint8Array(await new Response(this.fetchBlob(reference, descriptor)).arrayBuffer());
    verifyBytes(bytes, descriptor, `blob ${descriptor.digest} of ${familiarReference(reference)}`);
    return bytes;
  }

  /**
   * Streams a blob: exactly `descriptor.size` bytes, or an error. A connection that fails or ends early is resumed
   * with a Range request (or, if the registry ignores Range, re-read from the start with the known bytes skipped),
   * so a flaky network costs time, not correctness. The caller verifies the digest (a content writer does).
   * @example
   * const writer = await store.writer({ expected: layer });
   * for await (const chunk of client.fetchBlob(reference, layer)) await writer.write(chunk);
   * await writer.commit(layer);
   */
  fetchBlob(
    reference: ImageReference,
    descriptor: Descriptor,
    options: FetchBlobOptions = {},
  ): ReadableStream<Uint8Array> {
    const what = `blob ${descriptor.digest} of ${familiarReference(reference)}`;
    const total = descriptor.size;
    let received = 0;
    let failures = 0;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    /** Bytes of a full (200) response to drop because they were already delivered before a resume. */
    let skip = 0;
    const open = async () => {
      const headers: Record<string, string> = {};
      if (received > 0) headers.range = `bytes=${received}-`;
      const response = await this.#send(reference, "GET", `blobs/${descriptor.digest}`, what, headers, options.signal);
      if (received > 0 && response.status === 206) {
        const start = /^bytes (\d+)-/.exec(response.headers.get("content-range") ?? "")?.[1];
        if (start !== undefined && Number(start) !== received) {
          await response.body?.cancel();
          throw new EngineError("dataLoss", `${what}: asked to resume at byte ${received}, got byte ${start}`);
        }
        skip = 0;
      } else {
        skip = received;
      }
      if (!response.body) throw new EngineError("dataLoss", `${what}: the registry sent no body`);
      reader = response.body.getReader();
    };
    const retryOrFail = async (cause: unknown) => {
      reader?.cancel().catch(() => {});
      reader = undefined;
      failures += 1;
      if (failures > this.#retry.retries) {
        throw new EngineError(
          "dataLoss",
          `${what} was truncated: received ${received} of ${total} bytes after ${failures} attempts` +
            (cause instanceof Error ? ` (${cause.message})` : ""),
          { cause },
        );
      }
      await this.#retry.sleep(retryDelay(this.#retry, failures));
    };
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        for (;;) {
          options.signal?.throwIfAborted();
          if (reader === undefined) {
            if (received === total && total === 0) return controller.close();
            await open();
          }
          let next: Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>;
          try {
            next = await reader!.read();
          } catch (cause) {
            if (options.signal?.aborted) throw cause;
            await retryOrFail(cause);
            continue;
          }
          if (next.done) {
            reader = undefined;
            if (received === total) return controller.close();
            await retryOrFail(new Error("the connection closed early"));
            continue;
          }
          let chunk = next.value;
          if (skip > 0) {
            const dropped = Math.min(skip, chunk.byteLength);
            skip -= dropped;
            chunk = chunk.subarray(dropped);
            if (chunk.byteLength === 0) continue;
          }
          if (received + chunk.byteLength > total) {
            reader?.cancel().catch(() => {});
            throw new EngineError("dataLoss", `${what}: the registry sent more than the ${total} bytes it should have`);
          }
          received += chunk.byteLength;
          // A connection that makes progress earns its retries back: only repeated failures in a row give up.
          failures = 0;
          options.onProgress?.({ done: received, total });
          controller.enqueue(chunk);
          return;
        }
      },
      cancel: async (reason) => {
        await reader?.cancel(reason).catch(() => {});
      },
    });
  }

  // --- requests and auth -------------------------------------------------------------------------------------------

  #endpoint(reference: ImageReference): RegistryEndpoint {
    return (this.#options.endpoint ?? defaultEndpoint)(reference);
  }

  /** Sends a request to `/v2/<repository>/<path>`, authenticating as the registry asks; throws on a non-2xx answer. */
  #send(
    reference: ImageReference,
    method: string,
    path: string,
    what: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Response> {
    return this.exchange(reference, { method, path, what, headers, signal });
  }

  /**
   * One request to a repository's API, authenticated as the registry's challenge asks (a token for
   * `repository:<name>:<actions>`, plus any `scopes` such as the source repository of a cross-repository mount).
   * A status that `accept` does not take (by default any 2xx) is thrown as the registry's error. The push flow
   * (push.ts) is built on this.
   * @example
   * const response = await client.exchange(ref, { method: "HEAD", path: `blobs/${digest}`, what: "blob", accept: (s) => s < 500 });
   */
  async exchange(reference: ImageReference, request: RegistryExchange): Promise<Response> {
    const endpoint = this.#endpoint(reference);
    const url = request.url
      ? new URL(request.url, `${endpoint.baseUrl}/`).toString()
      : `${endpoint.baseUrl}/v2/${endpoint.repository}/${request.path ?? ""}`;
    const scope = [`repository:${endpoint.repository}:${request.actions ?? "pull"}`, ...(request.scopes ?? [])].join(
      " ",
    );
    const accept = request.accept ?? ((status: number) => status >= 200 && status < 300);
    const credentials = this.#options.credentials?.(reference.registry);
    let authorization = await this.#authorization(endpoint.baseUrl, scope, credentials, reference, false);
    for (let attempt = 0; ; attempt++) {
      const response = await this.#fetchWithRetry(
        url,
        request.method,
        { ...request.headers, ...authorization },
        request.what,
        request.signal,
        request.body,
      );
      if (accept(response.status)) return response;
      if (response.status === 401 && attempt === 0) {
        const challenge = this.#pickChallenge(response);
        if (challenge !== undefined) {
          this.#challenges.set(endpoint.baseUrl, challenge);
          // The challenge names the scope it wants; a push asks for more than a pull, so keep ours when it is wider.
          const challengeScope =
            request.actions && request.actions !== "pull" ? scope : challengeParam(challenge, "scope") || scope;
          const fresh = await this.#authorization(endpoint.baseUrl, challengeScope, credentials, reference, true);
          if (fresh !== undefined) {
            await response.body?.cancel();
            authorization = fresh;
            continue;
          }
        }
      }
      throw await this.#failure(response, request.what, reference, credentials);
    }
  }

  /**
   * Checks credentials with a registry, as `docker login` does: `GET /v2/` and, when it challenges, the Basic
   * credentials or a token obtained with them. Throws unauthorized when the registry refuses them.
   * @example
   * await client.login("localhost:5000", { username: "me", password: "secret" });
   */
  async login(registry: string, credentials: Credentials): Promise<void> {
    const reference: ImageReference = { registry, repository: "", tag: undefined, digest: undefined };
    const endpoint = this.#endpoint(reference);
    const url = `${endpoint.baseUrl}/v2/`;
    const what = `the login to ${registry}`;
    const first = await this.#fetchWithRetry(url, "GET", {}, what);
    await first.body?.cancel();
    if (first.ok) return;
    const challenge = first.status === 401 ? this.#pickChallenge(first) : undefined;
    if (challenge === undefined) throw await registryError(first, what, registry);
    let authorization: string;
    if (isScheme(challenge, "basic")) {
      authorization = `Basic ${base64(`${credentials.username}:${credentials.password}`)}`;
    } else if (isScheme(challenge, "bearer") && challengeParam(challenge, "realm")) {
      authorization = `Bearer ${await this.#token(challenge, "", credentials, reference, true)}`;
    } else {
      throw new EngineError(
        "unauthorized",
        `${registry} asks for ${challenge.scheme} auth, which Drydock does not speak`,
      );
    }
    const second = await this.#fetchWithRetry(url, "GET", { authorization }, what);
    await second.body?.cancel();
    if (second.ok) {
      this.#challenges.set(endpoint.baseUrl, challenge);
      return;
    }
    if (second.status === 401) {
      throw new EngineError("unauthorized", `${registry} refused the username or password of ${credentials.username}`);
    }
    throw await registryError(second, what, registry);
  }

  /** Forgets the tokens obtained for a registry (after `docker logout`). */
  forget(registry: string): void {
    const reference: ImageReference = { registry, repository: "", tag: undefined, digest: undefined };
    const baseUrl = this.#endpoint(reference).baseUrl;
    this.#challenges.delete(baseUrl);
    // Token keys name realms, not registries; dropping them all costs a token request on the next pull at most.
    this.#tokens.clear();
  }

  async #failure(
    response: Response,
    what: string,
    reference: ImageReference,
    credentials: Credentials | undefined,
  ): Promise<EngineError> {
    const error = await registryError(response, what, reference.registry);
    if (response.status !== 401) return error;
    if (credentials) {
      return new EngineError(
        "unauthorized",
        `${reference.registry} refused the credentials of ${credentials.username} for ${what} (${error.message})`,
      );
    }
    const challenge = this.#pickChallenge(response) ?? this.#challenges.get(this.#endpoint(reference).baseUrl);
    if (challenge && isScheme(challenge, "basic")) {
      return new EngineError(
        "unauthorized",
        `${reference.registry} requires a username and password for ${what}; log in to that registry first`,
      );
    }
    // Docker Hub answers an anonymous request for a repository that does not exist with 401, not 404.
    return new EngineError(
      "notFound",
      `pull access denied for ${familiarReference({ ...reference, tag: undefined, digest: undefined })}: ` +
        "the repository does not exist or needs a login",
    );
  }

  #pickChallenge(response: Response): Challenge | undefined {
    const challenges = parseChallenges(response.headers.get("www-authenticate") ?? "");
    return challenges.find((c) => isScheme(c, "bearer")) ?? challenges.find((c) => isScheme(c, "basic"));
  }

  /** The Authorization header for a request, from the registry's known challenge; undefined if it needs none. */
  async #authorization(
    baseUrl: string,
    scope: string,
    credentials: Credentials | undefined,
    reference: ImageReference,
    fresh: boolean,
  ): Promise<Record<string, string> | undefined> {
    const challenge = this.#challenges.get(baseUrl);
    if (challenge === undefined) return undefined;
    if (isScheme(challenge, "basic")) {
      return credentials
        ? { authorization: `Basic ${base64(`${credentials.username}:${credentials.password}`)}` }
        : undefined;
    }
    if (!isScheme(challenge, "bearer") || !challengeParam(challenge, "realm")) return undefined;
    const token = await this.#token(challenge, scope, credentials, reference, fresh);
    return { authorization: `Bearer ${token}` };
  }

  async #token(
    challenge: Challenge,
    scope: string,
    credentials: Credentials | undefined,
    reference: ImageReference,
    fresh: boolean,
  ): Promise<string> {
    const realm = challengeParam(challenge, "realm");
    const service = challengeParam(challenge, "service");
    const key = JSON.stringify([realm, service, scope, credentials?.username ?? ""]);
    const cached = this.#tokens.get(key);
    if (!fresh && cached && cached.expiresAt > Date.now()) return cached.token;
    const url = new URL(realm!);
    if (service) url.searchParams.set("service", service);
    // A challenge may name several scopes, space-separated; token services take each as its own parameter.
    for (const part of scope.split(/\s+/).filter(Boolean)) url.searchParams.append("scope", part);
    const headers: Record<string, string> = {};
    if (credentials) headers.authorization = `Basic ${base64(`${credentials.username}:${credentials.password}`)}`;
    const what = `a token for ${scope}`;
    const response = await this.#fetchWithRetry(url.toString(), "GET", headers, what);
    if (response.status === 401 && credentials) {
      await response.body?.cancel();
      throw new EngineError(
        "unauthorized",
        `${reference.registry} refused the username or password of ${credentials.username}`,
      );
    }
    if (!response.ok) throw await registryError(response, what, reference.registry);
    const body = parseJson(await readLimited(response, 1024 * 1024, what), what) as {
      token?: unknown;
      access_token?: unknown;
      expires_in?: unknown;
    };
    const token = typeof body.token === "string" ? body.token : body.access_token;
    if (typeof token !== "string" || token === "") {
      throw new EngineError("invalidArgument", `the token service of ${reference.registry} answered without a token`);
    }
    // The spec's default lifetime is 60 s; refresh a little early so a token does not expire mid-request.
    const lifetime = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60;
    this.#tokens.set(key, { token, expiresAt: Date.now() + Math.max(lifetime - 10, 1) * 1000 });
    return token;
  }

  async #fetchWithRetry(
    url: string,
    method: string,
    headers: Record<string, string>,
    what: string,
    signal?: AbortSignal,
    body?: Uint8Array,
  ): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      this.#options.onRequest?.({ method, url });
      let response: Response;
      try {
        response = await this.#fetch(url, {
          method,
          headers,
          signal,
          redirect: "follow",
          body: body as Uint8Array<ArrayBuffer> | undefined,
        });
      } catch (cause) {
        if (signal?.aborted || isEngineError(cause)) throw cause;
        if (attempt >= this.#retry.retries) {
          throw new EngineError(
            "unavailable",
            `could not reach ${new URL(url).host} for ${what} after ${attempt + 1} attempts: ${(cause as Error).message}`,
            { cause },
          );
        }
        await this.#retry.sleep(retryDelay(this.#retry, attempt + 1));
        continue;
      }
      if (isRetryableStatus(response.status) && attempt < this.#retry.retries) {
        await response.body?.cancel();
        await this.#retry.sleep(retryDelay(this.#retry, attempt + 1, response.headers.get("retry-after")));
        continue;
      }
      return response;
    }
  }
}
