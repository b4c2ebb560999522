// Rewriting what an upstream says about itself so that clients keep talking to the proxy: the token realm in a
// `WWW-Authenticate` challenge (browsers cannot reach the real one: no CORS), the repository names in its scopes, and
// the pagination `Link` of a tag list. Challenges are parsed and written by engine/registry's one parser (its challenge.ts itself, which imports
// nothing, so the edge-deployable proxy does not pull in the registry client).

import {
  type Challenge,
  challengeParam,
  formatChallenges,
  isScheme,
  parseChallenges,
} from "../../engine/registry/challenge.ts";

/** A resource scope of the token protocol, e.g. `repository:library/alpine:pull`. */
export interface Scope {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/**
 * Parses one scope. The resource name may itself contain colons (`repository:localhost:5000/app:pull`), so the type
 * ends at the first colon and the actions start after the last one.
 */
export function parseScope(scope: string): Scope | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first <= 0 || last <= first + 1) return undefined;
  const actions = scope.slice(last + 1);
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: actions ? actions.split(",") : [],
  };
}

export function formatScope(scope: Scope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(",")}`;
}

/** What a rewritten Bearer challenge pointed at before the rewrite: where the real tokens come from. */
export interface TokenService {
  readonly realm: string;
  readonly service?: string;
}

export interface ChallengeRewrite {
  /** The header to send to the client. */
  readonly header: string;
  /** The upstream's own realm and service, from its first Bearer challenge. */
  readonly original?: TokenService;
}

/**
 * Points every Bearer challenge's realm at the proxy's token endpoint and renames the repository in its scope from
 * the upstream's name to the one the client used, so that the token the client asks for matches its own request.
 * Other schemes (Basic) pass through: their realm is a label, not a URL.
 *
 * @example
 * rewriteChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",' +
 *   'scope="repository:library/alpine:pull"', "http://localhost:5173/registry/token",
 *   { upstream: "library/alpine", client: "alpine" })
 * // Bearer realm="http://localhost:5173/registry/token",service="registry.docker.io",scope="repository:alpine:pull"
 */
export function rewriteChallenge(
  header: string,
  proxyRealm: string,
  names?: { readonly upstream: string; readonly client: string },
): ChallengeRewrite {
  let original: TokenService | undefined;
  const challenges = parseChallenges(header).map((c): Challenge => {
    if (!isScheme(c, "bearer")) return c;
    const realm = challengeParam(c, "realm");
    if (realm !== undefined && original === undefined) {
      const service = challengeParam(c, "service");
      original = service === undefined ? { realm } : { realm, service };
    }
    const params = c.params.map(([k, v]): readonly [string, string] => {
      if (k === "realm") return [k, proxyRealm];
      if (k === "scope" && names) return [k, renameScopes(v, names.upstream, names.client)];
      return [k, v];
    });
    return { scheme: c.scheme, params };
  });
  const rewritten = formatChallenges(challenges);
  return original === undefined ? { header: rewritten } : { header: rewritten, original };
}

function renameScopes(scopes: string, from: string, to: string): string {
  return scopes
    .split(" ")
    .map((s) => {
      const scope = parseScope(s);
      return scope && scope.type === "repository" && scope.name === from ? formatScope({ ...scope, name: to }) : s;
    })
    .join(" ");
}

/**
 * Rewrites the `Link: <…>; rel="next"` of a paginated tag list so the next page is asked of the proxy. Returns
 * undefined when the link does not point at the same repository's tag list upstream (then it is dropped: following
 * it would leave the proxy).
 */
export function rewriteTagsLink(
  link: string,
  upstreamRequestUrl: string,
  upstreamName: string,
  proxyTagsPath: string,
): string | undefined {
  const m = /^\s*<([^>]*)>(.*)$/.exec(link);
  if (!m) return undefined;
  let target: URL;
  try {
    target = new URL(m[1]!, upstreamRequestUrl);
  } catch {
    return undefined;
  }
  const expected = new URL(upstreamRequestUrl);
  if (target.origin !== expected.origin || !target.pathname.endsWith(`/v2/${upstreamName}/tags/list`)) {
    return undefined;
  }
  return `<${proxyTagsPath}${target.search}>${m[2]}`;
}
