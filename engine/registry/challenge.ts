// Parsing and writing `WWW-Authenticate` (RFC 9110 §11.6.1): a registry's 401 names the auth scheme and, for Bearer,
// the token realm, service and scope to ask for. One parser for the engine's registry client and the registry proxy
// (web/proxy), which rewrites challenges and must write back what it read.

/** One challenge of a `WWW-Authenticate` header (RFC 7235): a scheme and its parameters, in order. */
export interface Challenge {
  readonly scheme: string;
  readonly params: ReadonlyArray<readonly [string, string]>;
  /** The token68 form some schemes use instead of parameters (not used by registries, kept when present). */
  readonly token68?: string;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
const TOKEN68 = /[A-Za-z0-9._~+/-]+=*(?=\s*(?:,|$))/y;
const SPACE = /[ \t]*/y;
const BARE_VALUE = /[^,\s"]+/y;

/**
 * Parses a `WWW-Authenticate` value into its challenges. A value that does not parse gives the challenges read so
 * far, so a malformed header degrades to "no usable challenge" rather than an exception. Schemes keep their case
 * (compare with `isScheme`); parameter names are lowercased.
 * @example
 * const [bearer] = parseChallenges('Bearer realm="https://auth.example/token",service="registry.example"');
 * challengeParam(bearer!, "realm"); // "https://auth.example/token"
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let pos = 0;
  const sticky = (re: RegExp): string | undefined => {
    re.lastIndex = pos;
    const m = re.exec(header);
    if (!m) return undefined;
    pos = re.lastIndex;
    return m[0];
  };
  const skipSpace = () => sticky(SPACE);
  const skipSeparators = () => {
    while (pos < header.length && (header[pos] === "," || header[pos] === " " || header[pos] === "\t")) pos++;
  };
  const quoted = (): string | undefined => {
    if (header[pos] !== '"') return undefined;
    let value = "";
    for (let i = pos + 1; i < header.length; i++) {
      const ch = header[i]!;
      if (ch === "\\" && i + 1 < header.length) value += header[++i];
      else if (ch === '"') {
        pos = i + 1;
        return value;
      } else value += ch;
    }
    return undefined;
  };
  // After a comma, a parameter looks like `name=`; anything else starts the next challenge.
  const atParam = (): boolean => {
    const save = pos;
    const name = sticky(TOKEN);
    skipSpace();
    const isParam = name !== undefined && header[pos] === "=";
    pos = save;
    return isParam;
  };

  skipSeparators();
  while (pos < header.length) {
    const scheme = sticky(TOKEN);
    if (!scheme) break;
    skipSpace();
    const params: Array<readonly [string, string]> = [];
    // `abc==` and `name=value` both start like a parameter; only token68 can end right after its `=` padding.
    const token68 = sticky(TOKEN68);
    while (token68 === undefined && atParam()) {
      const name = sticky(TOKEN)!;
      skipSpace();
      pos++; // "="
      skipSpace();
      // Unquoted values should be tokens, but some servers send bare URLs; take anything up to the next comma.
      const value = quoted() ?? sticky(BARE_VALUE);
      if (value === undefined) return [...challenges, { scheme, params }];
      params.push([name.toLowerCase(), value]);
      skipSpace();
      if (header[pos] !== ",") break;
      pos++;
      skipSpace();
    }
    challenges.push(token68 === undefined ? { scheme, params } : { scheme, params, token68 });
    skipSeparators();
  }
  return challenges;
}

/** Serializes challenges back into one `WWW-Authenticate` value, quoting every parameter value. */
export function formatChallenges(challenges: readonly Challenge[]): string {
  return challenges
    .map((c) => {
      if (c.token68 !== undefined) return `${c.scheme} ${c.token68}`;
      const params = c.params.map(([k, v]) => `${k}="${v.replace(/[\\"]/g, "\\$&")}"`).join(",");
      return params ? `${c.scheme} ${params}` : c.scheme;
    })
    .join(", ");
}

/** The value of parameter `name` of a challenge. */
export function challengeParam(challenge: Challenge, name: string): string | undefined {
  return challenge.params.find(([k]) => k === name)?.[1];
}

/** Whether a challenge is of `scheme` (case-insensitive, as schemes are). */
export function isScheme(challenge: Challenge, scheme: string): boolean {
  return challenge.scheme.toLowerCase() === scheme.toLowerCase();
}
