// Parsing `WWW-Authenticate` (RFC 7235): a registry's 401 names the auth scheme and, for Bearer, the token realm,
// service and scope to ask for.

export interface Challenge {
  /** Lowercased: "bearer" or "basic" (others are parsed but not supported). */
  scheme: string;
  parameters: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate header into its challenges.
 * @example
 * parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull"');
 * // [{ scheme: "bearer", parameters: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a:pull" } }]
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let position = 0;
  const skipSpaceAndCommas = () => {
    while (position < header.length && /[\s,]/.test(header[position]!)) position++;
  };
  const readToken = () => {
    const match = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(header.slice(position));
    if (!match) return undefined;
    position += match[0].length;
    return match[0];
  };
  while (position < header.length) {
    skipSpaceAndCommas();
    const scheme = readToken();
    if (scheme === undefined) break;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), parameters: {} };
    challenges.push(challenge);
    // Parameters follow until the next token that is not followed by "=" (the next scheme).
    while (position < header.length) {
      skipSpaceAndCommas();
      const mark = position;
      const name = readToken();
      if (name === undefined) break;
      while (header[position] === " ") position++;
      if (header[position] !== "=") {
        position = mark;
        break;
      }
      position++;
      while (header[position] === " ") position++;
      let value = "";
      if (header[position] === '"') {
        position++;
        while (position < header.length && header[position] !== '"') {
          if (header[position] === "\\") position++;
          value += header[position] ?? "";
          position++;
        }
        position++;
      } else {
        value = readToken() ?? "";
      }
      challenge.parameters[name.toLowerCase()] = value;
    }
  }
  return challenges;
}
