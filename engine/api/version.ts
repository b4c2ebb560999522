// API version negotiation, as dockerd does it: the newest version served is advertised in the `Api-Version` header of
// every answer (clients read it from `/_ping` and step down to it), and a request on a versioned path (`/v1.41/…`)
// is refused when its version is outside [MIN_API_VERSION, API_VERSION].

/** The newest Engine API version Drydock speaks (Docker 24). */
export const API_VERSION = "1.43";
/** The oldest one it accepts (what dockerd accepts by default). */
export const MIN_API_VERSION = "1.24";

/** Compares two `major.minor` versions: negative when a < b, 0 when equal, positive when a > b. */
export function compareApiVersions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split(".").map(Number);
  const [bMajor = 0, bMinor = 0] = b.split(".").map(Number);
  return aMajor - bMajor || aMinor - bMinor;
}

/** The version a path names and the path without it: `/v1.41/images/json` → `{ version: "1.41", path: "/images/json" }`. */
export function splitVersionedPath(path: string): { version?: string; path: string } {
  const match = /^\/v([^/]*)(\/.*)?$/.exec(path);
  if (!match || !/^[0-9]/.test(match[1] ?? "")) return { path };
  return { version: match[1], path: match[2] ?? "/" };
}

/** Why a client's version is refused, in dockerd's words, or undefined when it is served. */
export function checkApiVersion(version: string): string | undefined {
  if (!/^\d+\.\d+$/.test(version)) return `invalid API version: ${version}`;
  if (compareApiVersions(version, API_VERSION) > 0) {
    return `client version ${version} is too new. Maximum supported API version is ${API_VERSION}`;
  }
  if (compareApiVersions(version, MIN_API_VERSION) < 0) {
    return `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`;
  }
  return undefined;
}
