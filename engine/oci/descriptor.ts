// The OCI content descriptor (image-spec descriptor.md) and the platform object that image indexes attach to it.
import { EngineError } from "../errors.ts";
import type { Digest } from "./digest.ts";
import * as json from "./json.ts";

/** Where an image can run: `os`/`architecture`, with an optional CPU `variant` such as `v7` or `v8`. */
export interface Platform {
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
  features?: string[];
}

/** A pointer to content: its media type, digest and size, so the bytes can be fetched and verified. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  /** The content itself, base64-encoded, for small blobs embedded in the descriptor. */
  data?: string;
  artifactType?: string;
  platform?: Platform;
}

export function parsePlatform(value: unknown, path: string): Platform {
  const source = json.object(value, path);
  const platform: Platform = {
    architecture: json.string(source.architecture, `${path}.architecture`),
    os: json.string(source.os, `${path}.os`),
  };
  const osVersion = json.optionalString(source["os.version"], `${path}.os.version`);
  if (osVersion !== undefined) platform["os.version"] = osVersion;
  const osFeatures = json.optionalArray(source["os.features"], `${path}.os.features`, json.string);
  if (osFeatures !== undefined) platform["os.features"] = osFeatures;
  const variant = json.optionalString(source.variant, `${path}.variant`);
  if (variant !== undefined && variant !== "") platform.variant = variant;
  const features = json.optionalArray(source.features, `${path}.features`, json.string);
  if (features !== undefined) platform.features = features;
  return platform;
}

export function parseDescriptor(value: unknown, path: string): Descriptor {
  const source = json.object(value, path);
  const descriptor: Descriptor = {
    mediaType: json.string(source.mediaType, `${path}.mediaType`),
    digest: json.digest(source.digest, `${path}.digest`),
    size: json.size(source.size, `${path}.size`),
  };
  const urls = json.optionalArray(source.urls, `${path}.urls`, json.string);
  if (urls !== undefined) descriptor.urls = urls;
  const annotations = json.optionalStringMap(source.annotations, `${path}.annotations`);
  if (annotations !== undefined) descriptor.annotations = annotations;
  const data = json.optionalString(source.data, `${path}.data`);
  if (data !== undefined) descriptor.data = data;
  const artifactType = json.optionalString(source.artifactType, `${path}.artifactType`);
  if (artifactType !== undefined) descriptor.artifactType = artifactType;
  if (source.platform !== undefined) descriptor.platform = parsePlatform(source.platform, `${path}.platform`);
  return descriptor;
}

/** `linux/arm64/v8`: how Docker writes a platform. */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter((part) => part).join("/");
}

/**
 * Reads a platform as Docker's `--platform` writes it (`os[/architecture[/variant]]`, `wasi/wasm`, `linux/386`).
 * Throws invalidArgument, in dockerd's words, for one that is not.
 * @example
 * parsePlatformSpecifier("wasi/wasm"); // { os: "wasi", architecture: "wasm" }
 */
export function parsePlatformSpecifier(value: string): Platform {
  const parts = value.trim().toLowerCase().split("/");
  if (parts.length > 3 || parts.some((part) => !/^[a-z0-9_.-]+$/.test(part))) {
    throw new EngineError("invalidArgument", `"${value}": unknown operating system or architecture: invalid argument`);
  }
  const [os, architecture, variant] = parts as [string, string?, string?];
  const platform: Platform = {
    os,
    architecture: architecture === "i386" || architecture === "i686" ? "386" : (architecture ?? ""),
  };
  if (platform.architecture === "") platform.architecture = os === "wasi" ? "wasm" : "386";
  if (variant) platform.variant = variant;
  return platform;
}

/** The platform Drydock's guest runs: a 32-bit x86 Linux. Any `386` variant will do. */
export const GUEST_PLATFORM: Platform = { os: "linux", architecture: "386" };

/** Whether content for `platform` runs on `wanted`. Variants are ignored: every 386 variant runs on the guest. */
export function platformMatches(platform: Platform, wanted: Platform): boolean {
  return osName(platform.os) === osName(wanted.os) && platform.architecture === wanted.architecture;
}

/** The CNCF wasm layout names WASI's first version `wasip1`; Docker calls it `wasi`. */
function osName(os: string): string {
  return os === "wasip1" ? "wasi" : os;
}
