// Repository names on the proxy and where they go upstream. The proxy is one registry that fronts several: the first
// path component of a repository names the upstream (`ghcr.io/owner/app`), and anything else is Docker Hub, with the
// `library/` prefix Docker adds to official images (`alpine` → `library/alpine`), so a docker daemon can use the
// proxy as a registry mirror unchanged.

/** One upstream registry the proxy may talk to. */
export interface UpstreamConfig {
  /** Base URL of the registry's API (the part before `/v2/`), e.g. `https://ghcr.io`. */
  readonly url: string;
  /**
   * Allow this upstream's host even when it resolves to a private, loopback or link-local address. Only for
   * upstreams an operator names explicitly (the CLI's `--upstream`): the default table never sets it.
   */
  readonly allowPrivate?: boolean;
  /**
   * Relay pushes (blob uploads, manifest PUTs) to this upstream, with the client's own credentials. Only where the
   * operator says so (the CLI's `--allow-push <alias>`): the proxy is read-only by default.
   */
  readonly allowPush?: boolean;
}

/** The alias under which Docker Hub is configured; names with no known alias go there. */
export const DOCKER_HUB_ALIAS = "docker.io";

/** Upstreams used when none are configured: the public registries a learner is likely to name. */
export const DEFAULT_UPSTREAMS: Readonly<Record<string, UpstreamConfig>> = {
  [DOCKER_HUB_ALIAS]: { url: "https://registry-1.docker.io" },
  "ghcr.io": { url: "https://ghcr.io" },
  "quay.io": { url: "https://quay.io" },
  "gcr.io": { url: "https://gcr.io" },
  "public.ecr.aws": { url: "https://public.ecr.aws" },
};

/** Where a repository name on the proxy points upstream. */
export interface UpstreamRepository {
  readonly alias: string;
  readonly upstream: UpstreamConfig;
  /** The repository name on the upstream registry. */
  readonly name: string;
}

export type MapResult =
  | { readonly ok: true; readonly repository: UpstreamRepository }
  | { readonly ok: false; readonly code: "NAME_INVALID" | "DENIED"; readonly message: string };

// The distribution spec's grammar for one path component of a repository name. Checking it strictly also keeps
// `..`, percent escapes and empty components out of the URLs the proxy builds.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
// An alias is a registry host as people write it in image references: a domain or IP with an optional port.
const ALIAS = /^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?$/;
const MAX_NAME_LENGTH = 255;

/** Whether `alias` can be used as an upstream alias (a host name with an optional port). */
export function isValidAlias(alias: string): boolean {
  return ALIAS.test(alias);
}

/**
 * Maps a repository name as a client sends it to the proxy to an upstream registry and the name there.
 *
 * @example
 * mapRepository("alpine", DEFAULT_UPSTREAMS) // docker.io, "library/alpine"
 * mapRepository("ghcr.io/owner/app", DEFAULT_UPSTREAMS) // ghcr.io, "owner/app"
 * mapRepository("evil.example/x", DEFAULT_UPSTREAMS) // refused: not a configured registry
 */
export function mapRepository(name: string, upstreams: Readonly<Record<string, UpstreamConfig>>): MapResult {
  const parts = name.split("/");
  const first = parts[0] ?? "";
  const aliased = parts.length >= 2 ? upstreams[first] : undefined;
  if (aliased) return toUpstream(first, aliased, parts.slice(1));
  // Docker reads a first component with a dot or a port, or `localhost`, as a registry host. Sending such a name to
  // Docker Hub would fetch something other than what the user named, so an unknown host is refused instead.
  if (parts.length >= 2 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    return { ok: false, code: "DENIED", message: `registry ${first} is not configured on this proxy` };
  }
  const hub = upstreams[DOCKER_HUB_ALIAS];
  if (!hub) return { ok: false, code: "DENIED", message: `${DOCKER_HUB_ALIAS} is not configured on this proxy` };
  return toUpstream(DOCKER_HUB_ALIAS, hub, parts);
}

function toUpstream(alias: string, upstream: UpstreamConfig, parts: string[]): MapResult {
  if (parts.length === 0 || !parts.every((p) => COMPONENT.test(p))) {
    return { ok: false, code: "NAME_INVALID", message: `invalid repository name ${JSON.stringify(parts.join("/"))}` };
  }
  // Docker Hub keeps official images under `library/`, and Docker adds it to one-component names.
  const upstreamParts = alias === DOCKER_HUB_ALIAS && parts.length === 1 ? ["library", ...parts] : parts;
  const upstreamName = upstreamParts.join("/");
  if (upstreamName.length > MAX_NAME_LENGTH) {
    return { ok: false, code: "NAME_INVALID", message: "repository name too long" };
  }
  return { ok: true, repository: { alias, upstream, name: upstreamName } };
}

/** The routes of the distribution API the proxy serves, all read-only. */
export type RegistryRoute =
  | { readonly kind: "manifests"; readonly name: string; readonly reference: string }
  | { readonly kind: "blobs"; readonly name: string; readonly reference: string }
  | { readonly kind: "tags"; readonly name: string }
  | { readonly kind: "referrers"; readonly name: string; readonly reference: string };

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Whether `reference` is a digest (`algorithm:encoded`) rather than a tag. */
export function isDigest(reference: string): boolean {
  return DIGEST.test(reference);
}

/**
 * Parses the part of a request path after `/v2/` into a route, or undefined when it is not one the proxy serves.
 * The name is everything before the last `/manifests/`, `/blobs/`, `/tags/list` or `/referrers/`, as in the spec.
 */
export function parseRoute(path: string): RegistryRoute | undefined {
  const tags = /^(.+)\/tags\/list$/.exec(path);
  if (tags) return { kind: "tags", name: tags[1]! };
  const match = /^(.+)\/(manifests|blobs|referrers)\/([^/]+)$/.exec(path);
  if (!match) return undefined;
  const name = match[1]!;
  const kind = match[2]!;
  const reference = match[3]!;
  if (kind === "manifests")
    return TAG.test(reference) || DIGEST.test(reference) ? { kind, name, reference } : undefined;
  if (kind === "blobs" || kind === "referrers") return DIGEST.test(reference) ? { kind, name, reference } : undefined;
  return undefined;
}
