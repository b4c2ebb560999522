// Reading untrusted JSON from a registry into wire types. Each reader checks one field and, when it is wrong, says
// where (`manifest.layers[2].digest`) and what it expected, so a malformed manifest produces an error a person can act on.
import { EngineError } from "../errors.ts";
import { type Digest, tryParseDigest } from "./digest.ts";

export type JsonObject = Record<string, unknown>;

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

export function malformed(path: string, expected: string, got: unknown): EngineError {
  return new EngineError("invalidArgument", `malformed ${path}: expected ${expected}, got ${describe(got)}`);
}

export function parseJson(bytes: Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new EngineError("invalidArgument", `malformed ${what}: not UTF-8 text`, { cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new EngineError("invalidArgument", `malformed ${what}: not JSON (${(cause as Error).message})`, { cause });
  }
}

export function object(value: unknown, path: string): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw malformed(path, "an object", value);
  return value as JsonObject;
}

export function string(value: unknown, path: string): string {
  if (typeof value !== "string") throw malformed(path, "a string", value);
  return value;
}

export function optionalString(value: unknown, path: string): string | undefined {
  return value === undefined ? undefined : string(value, path);
}

export function boolean(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") throw malformed(path, "true or false", value);
  return value;
}

export function optionalBoolean(value: unknown, path: string): boolean | undefined {
  return value === undefined ? undefined : boolean(value, path);
}

/** A size or count: a non-negative integer that a double can hold exactly. */
export function size(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw malformed(path, "a non-negative integer", value);
  }
  return value;
}

export function digest(value: unknown, path: string): Digest {
  const parsed = typeof value === "string" ? tryParseDigest(value) : undefined;
  if (parsed === undefined) throw malformed(path, "a digest like sha256:<64 hex digits>", value);
  return parsed;
}

export function array<T>(value: unknown, path: string, item: (value: unknown, path: string) => T): T[] {
  if (!Array.isArray(value)) throw malformed(path, "an array", value);
  return value.map((element, index) => item(element, `${path}[${index}]`));
}

export function optionalArray<T>(
  value: unknown,
  path: string,
  item: (value: unknown, path: string) => T,
): T[] | undefined {
  // Go encodes a nil slice as null; registries and tools written in Go send it.
  return value === undefined || value === null ? undefined : array(value, path, item);
}

export function stringMap(value: unknown, path: string): Record<string, string> {
  const source = object(value, path);
  const result: Record<string, string> = {};
  for (const [key, entry] of Object.entries(source)) result[key] = string(entry, `${path}.${key}`);
  return result;
}

export function optionalStringMap(value: unknown, path: string): Record<string, string> | undefined {
  return value === undefined || value === null ? undefined : stringMap(value, path);
}

/** A JSON object used as a set (`{"80/tcp": {}}`), as Docker's config does for ports and volumes. */
export function optionalSet(value: unknown, path: string): Record<string, Record<string, never>> | undefined {
  if (value === undefined || value === null) return undefined;
  const source = object(value, path);
  const result: Record<string, Record<string, never>> = {};
  for (const key of Object.keys(source)) result[key] = {};
  return result;
}

export function schemaVersion2(value: unknown, path: string): 2 {
  if (value !== 2) throw malformed(`${path}.schemaVersion`, "2", value);
  return 2;
}
