// The OCI image configuration (image-spec config.md), which Docker's image config extends with a few fields
// (Healthcheck, Shell, OnBuild). Field names are the wire keys, capitals included.
import type { Digest } from "./digest.ts";
import * as json from "./json.ts";

/** How to run a container from the image: the defaults `docker run` starts from. */
export interface ExecutionConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  /** Docker's extensions. */
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
  OnBuild?: string[];
  Shell?: string[];
}

/** One step of how the image was built, as `docker history` shows it. */
export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  /** True for steps that added no layer (ENV, CMD…): they have no entry in rootfs.diff_ids. */
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
  config?: ExecutionConfig;
  rootfs: {
    type: "layers";
    /** The digests of the uncompressed layer tars, base layer first. */
    diff_ids: Digest[];
  };
  history?: HistoryEntry[];
}

function optionalNumber(value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number") throw json.malformed(path, "a number", value);
  return value;
}

function parseExecutionConfig(value: unknown, path: string): ExecutionConfig {
  const source = json.object(value, path);
  const strings = (key: string) => json.optionalArray(source[key], `${path}.${key}`, json.string);
  const healthcheck =
    source.Healthcheck === undefined || source.Healthcheck === null
      ? undefined
      : json.object(source.Healthcheck, `${path}.Healthcheck`);
  return {
    User: json.optionalString(source.User, `${path}.User`),
    ExposedPorts: json.optionalSet(source.ExposedPorts, `${path}.ExposedPorts`),
    Env: strings("Env"),
    Entrypoint: strings("Entrypoint"),
    Cmd: strings("Cmd"),
    Volumes: json.optionalSet(source.Volumes, `${path}.Volumes`),
    WorkingDir: json.optionalString(source.WorkingDir, `${path}.WorkingDir`),
    Labels: json.optionalStringMap(source.Labels, `${path}.Labels`),
    StopSignal: json.optionalString(source.StopSignal, `${path}.StopSignal`),
    ArgsEscaped: json.optionalBoolean(source.ArgsEscaped, `${path}.ArgsEscaped`),
    Healthcheck: healthcheck && {
      Test: json.optionalArray(healthcheck.Test, `${path}.Healthcheck.Test`, json.string),
      Interval: optionalNumber(healthcheck.Interval, `${path}.Healthcheck.Interval`),
      Timeout: optionalNumber(healthcheck.Timeout, `${path}.Healthcheck.Timeout`),
      StartPeriod: optionalNumber(healthcheck.StartPeriod, `${path}.Healthcheck.StartPeriod`),
      Retries: optionalNumber(healthcheck.Retries, `${path}.Healthcheck.Retries`),
    },
    OnBuild: strings("OnBuild"),
    Shell: strings("Shell"),
  };
}

function parseHistoryEntry(value: unknown, path: string): HistoryEntry {
  const source = json.object(value, path);
  return {
    created: json.optionalString(source.created, `${path}.created`),
    created_by: json.optionalString(source.created_by, `${path}.created_by`),
    author: json.optionalString(source.author, `${path}.author`),
    comment: json.optionalString(source.comment, `${path}.comment`),
    empty_layer: json.optionalBoolean(source.empty_layer, `${path}.empty_layer`),
  };
}

export function parseImageConfig(value: unknown, path = "image config"): ImageConfig {
  const source = json.object(value, path);
  const rootfs = json.object(source.rootfs, `${path}.rootfs`);
  if (rootfs.type !== "layers") throw json.malformed(`${path}.rootfs.type`, '"layers"', rootfs.type);
  return {
    created: json.optionalString(source.created, `${path}.created`),
    author: json.optionalString(source.author, `${path}.author`),
    architecture: json.string(source.architecture, `${path}.architecture`),
    os: json.string(source.os, `${path}.os`),
    "os.version": json.optionalString(source["os.version"], `${path}.os.version`),
    "os.features": json.optionalArray(source["os.features"], `${path}.os.features`, json.string),
    variant: json.optionalString(source.variant, `${path}.variant`),
    config:
      source.config === undefined || source.config === null
        ? undefined
        : parseExecutionConfig(source.config, `${path}.config`),
    rootfs: { type: "layers", diff_ids: json.array(rootfs.diff_ids, `${path}.rootfs.diff_ids`, json.digest) },
    history: json.optionalArray(source.history, `${path}.history`, parseHistoryEntry),
  };
}
