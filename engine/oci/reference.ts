// Image references with Docker's normalisation (distribution/reference): `alpine` means
// `docker.io/library/alpine:latest`; the first path component is a registry host only if it looks like one.
import { EngineError } from "../errors.ts";
import { type Digest, parseDigest } from "./digest.ts";

export interface ImageReference {
  /** The registry host, with its port if one was given: `docker.io`, `ghcr.io`, `localhost:5000`. */
  registry: string;
  /** The repository path inside the registry: `library/alpine`, `me/app`. */
  repository: string;
  /** The tag, if any. {@link parseReference} fills in `latest` when neither a tag nor a digest was given. */
  tag?: string;
  /** The manifest digest, if the reference pins one; it wins over the tag when both are given. */
  digest?: Digest;
}

export const DEFAULT_REGISTRY = "docker.io";
export const DEFAULT_TAG = "latest";
const LEGACY_DEFAULT_REGISTRY = "index.docker.io";
const OFFICIAL_REPOSITORY_PREFIX = "library/";
const MAX_NAME_LENGTH = 255;

const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const REGISTRY = new RegExp(`^${HOST}(?::[0-9]+)?$`);
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
const REPOSITORY = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const IMAGE_ID = /^[a-f0-9]{64}$/;

function invalid(text: string, why: string): EngineError {
  return new EngineError("invalidArgument", `invalid reference format "${text}": ${why}`);
}

/**
 * Parses an image reference the way `docker pull` does.
 * @example
 * parseReference("alpine");
 * // { registry: "docker.io", repository: "library/alpine", tag: "latest" }
 * parseReference("localhost:5000/app@sha256:…");
 * // { registry: "localhost:5000", repository: "app", digest: "sha256:…" }
 */
export function parseReference(text: string): ImageReference {
  if (text === "") throw invalid(text, "it is empty");
  if (IMAGE_ID.test(text)) {
    throw invalid(text, "a 64-digit hex string is an image ID, not a repository name");
  }
  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = parseDigest(rest.slice(at + 1), `digest in "${text}"`);
    rest = rest.slice(0, at);
  }
  // A colon after the last slash starts the tag; one before it belongs to the registry's port.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag))
      throw invalid(text, `tag "${tag}" may use letters, digits, _ . - (at most 128, not starting with . or -)`);
  }
  const { registry, repository } = splitRegistry(rest, text);
  if (repository !== repository.toLowerCase()) throw invalid(text, "repository name must be lowercase");
  if (!REPOSITORY.test(repository)) {
    throw invalid(
      text,
      `repository "${repository}" may only use lowercase letters, digits and separators (. _ __ -) between them`,
    );
  }
  if (`${registry}/${repository}`.length > MAX_NAME_LENGTH) {
    throw invalid(text, `repository name must not be more than ${MAX_NAME_LENGTH} characters`);
  }
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  const reference: ImageReference = { registry, repository };
  if (tag !== undefined) reference.tag = tag;
  if (digest !== undefined) reference.digest = digest;
  return reference;
}

function splitRegistry(name: string, text: string): { registry: string; repository: string } {
  const slash = name.indexOf("/");
  const first = slash === -1 ? "" : name.slice(0, slash);
  // Docker's rule: the first component is a host when it has a dot or a port, is "localhost", or has capitals
  // (repository names cannot, so `Registry/x` must be a host).
  const isHost =
    slash !== -1 &&
    (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase());
  let registry = isHost ? first : DEFAULT_REGISTRY;
  let repository = isHost ? name.slice(slash + 1) : name;
  if (isHost && !REGISTRY.test(registry)) throw invalid(text, `"${registry}" is not a valid registry host`);
  if (registry === LEGACY_DEFAULT_REGISTRY) registry = DEFAULT_REGISTRY;
  if (registry === DEFAULT_REGISTRY && !repository.includes("/")) repository = OFFICIAL_REPOSITORY_PREFIX + repository;
  if (repository === "") throw invalid(text, "repository name is empty");
  return { registry, repository };
}

/** The full name without tag or digest: `docker.io/library/alpine`. */
export function referenceName(reference: ImageReference): string {
  return `${reference.registry}/${reference.repository}`;
}

/** The fully qualified form: `docker.io/library/alpine:latest`, `ghcr.io/x/y@sha256:…`. */
export function formatReference(reference: ImageReference): string {
  return (
    referenceName(reference) +
    (reference.tag !== undefined ? `:${reference.tag}` : "") +
    (reference.digest !== undefined ? `@${reference.digest}` : "")
  );
}

/** The short form Docker shows: `alpine:latest`, `me/app:1`, `ghcr.io/x/y:2`. */
export function familiarReference(reference: ImageReference): string {
  let name = referenceName(reference);
  if (reference.registry === DEFAULT_REGISTRY) {
    name = reference.repository.startsWith(OFFICIAL_REPOSITORY_PREFIX)
      ? reference.repository.slice(OFFICIAL_REPOSITORY_PREFIX.length)
      : reference.repository;
  }
  return (
    name +
    (reference.tag !== undefined ? `:${reference.tag}` : "") +
    (reference.digest !== undefined ? `@${reference.digest}` : "")
  );
}

/** The host without its port; IPv6 brackets are kept: `[::1]`. */
export function registryHost(registry: string): string {
  if (registry.startsWith("[")) return registry.slice(0, registry.indexOf("]") + 1);
  const colon = registry.indexOf(":");
  return colon === -1 ? registry : registry.slice(0, colon);
}

/**
 * Whether a registry is on this machine's loopback (localhost, 127.0.0.0/8, [::1]). Docker reaches those over plain
 * HTTP without being told, because a local test registry rarely has a certificate.
 */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registryHost(registry).toLowerCase();
  if (host === "localhost" || host === "[::1]") return true;
  const octets = host.split(".");
  return (
    octets.length === 4 &&
    octets[0] === "127" &&
    octets.every((octet) => /^[0-9]{1,3}$/.test(octet) && Number(octet) <= 255)
  );
}

/**
 * The base URL of a registry's HTTP API (before `/v2/`). Docker Hub's API lives on its own host; loopback
 * registries use http, all others https.
 */
export function registryBaseUrl(registry: string): string {
  if (registry === DEFAULT_REGISTRY) return "https://registry-1.docker.io";
  return `${isLoopbackRegistry(registry) ? "http" : "https"}://${registry}`;
}
