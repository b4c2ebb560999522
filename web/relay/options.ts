// The relay's settings from command-line flags and environment variables, shared by the standalone server (cli.ts)
// and the dev server's plugin (vite-plugin.ts), so both read `DRYDOCK_RELAY_ALLOW` and friends the same way.

import type { RelayLimits } from "./limits.ts";
import { DEFAULT_ALLOWLIST, isValidAllowEntry, normalizeName } from "./policy.ts";
import type { RelayOptions } from "./server.ts";

/** A size as people write it: `512M`, `1G`, `65536`. */
export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)i?B?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  const unit = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as "" | "K" | "M" | "G"];
  return Math.floor(Number(m[1]) * unit);
}

function list(text: string | undefined): string[] {
  return (text ?? "")
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

function positive(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} wants a positive whole number, got ${text}`);
  return n;
}

export interface RelaySettings {
  /** Entries added to the allowlist (`host` or `*.domain`). */
  readonly allow?: readonly string[];
  /** Only the entries of `allow`, without the defaults. */
  readonly noDefaultAllowlist?: boolean;
  readonly ports?: readonly string[];
  readonly allowPrivate?: readonly string[];
  readonly connectionsPerMinute?: string;
  readonly concurrentStreams?: string;
  readonly bytesPerMinute?: string;
  readonly queriesPerMinute?: string;
}

/** The settings of `DRYDOCK_RELAY_*` environment variables. */
export function settingsFromEnv(env: Record<string, string | undefined>): RelaySettings {
  const pick = (key: string) => env[key];
  return {
    allow: list(pick("DRYDOCK_RELAY_ALLOW")),
    noDefaultAllowlist: pick("DRYDOCK_RELAY_NO_DEFAULT_ALLOWLIST") === "1",
    ports: list(pick("DRYDOCK_RELAY_PORTS")),
    allowPrivate: list(pick("DRYDOCK_RELAY_ALLOW_PRIVATE")),
    ...(pick("DRYDOCK_RELAY_CONNECTIONS_PER_MINUTE")
      ? { connectionsPerMinute: pick("DRYDOCK_RELAY_CONNECTIONS_PER_MINUTE") }
      : {}),
    ...(pick("DRYDOCK_RELAY_CONCURRENT_STREAMS")
      ? { concurrentStreams: pick("DRYDOCK_RELAY_CONCURRENT_STREAMS") }
      : {}),
    ...(pick("DRYDOCK_RELAY_BYTES_PER_MINUTE") ? { bytesPerMinute: pick("DRYDOCK_RELAY_BYTES_PER_MINUTE") } : {}),
    ...(pick("DRYDOCK_RELAY_QUERIES_PER_MINUTE") ? { queriesPerMinute: pick("DRYDOCK_RELAY_QUERIES_PER_MINUTE") } : {}),
  };
}

/** Turns settings into the relay's options, refusing what it cannot use with a message naming the setting. */
export function relayOptions(
  settings: RelaySettings,
): Pick<RelayOptions, "allow" | "ports" | "privateNames" | "limits"> {
  const extra = (settings.allow ?? []).flatMap((entry) => list(entry)).map(normalizeName);
  for (const entry of extra) {
    if (!isValidAllowEntry(entry)) throw new Error(`--allow wants a host name or *.domain, got ${entry}`);
  }
  const allow = [...new Set([...(settings.noDefaultAllowlist ? [] : DEFAULT_ALLOWLIST), ...extra])];
  const portList = (settings.ports ?? []).flatMap((p) => list(p));
  const ports = portList.map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`--ports wants port numbers, got ${p}`);
    return n;
  });
  const privateNames = (settings.allowPrivate ?? []).flatMap((p) => list(p)).map(normalizeName);
  for (const name of privateNames) {
    if (!isValidAllowEntry(name)) throw new Error(`--allow-private wants a host name or *.domain, got ${name}`);
  }
  const limits: Partial<RelayLimits> = {
    ...(settings.connectionsPerMinute
      ? { connectionsPerMinute: positive("--connections-per-minute", settings.connectionsPerMinute) }
      : {}),
    ...(settings.concurrentStreams
      ? { concurrentStreams: positive("--concurrent-streams", settings.concurrentStreams) }
      : {}),
    ...(settings.bytesPerMinute ? { bytesPerMinute: parseBytes(settings.bytesPerMinute) } : {}),
    ...(settings.queriesPerMinute
      ? { queriesPerMinute: positive("--queries-per-minute", settings.queriesPerMinute) }
      : {}),
  };
  return { allow, ...(ports.length ? { ports } : {}), privateNames, limits };
}
