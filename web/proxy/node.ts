// The proxy's Node side: DNS checks with the system resolver, client addresses for rate limiting, and the choice of a
// disk or memory cache. The CLI and the Vite plugin both build their app here; index.ts stays free of Node APIs so
// `app.fetch` can also be deployed to an edge runtime.

import { createHash } from "node:crypto";
import { lookup } from "node:dns/promises";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context, Hono } from "hono";
import { createProxy, type ProxyOptions } from "./app.ts";
import { type DigestAlgorithm, type IncrementalHash, MemoryBlobCache } from "./cache.ts";
import { FsBlobCache } from "./cache-fs.ts";
import type { ResolveHost } from "./upstream.ts";

/**
 * Resolves a name the way Node's fetch will when it connects (getaddrinfo, so /etc/hosts counts too). A name could
 * still resolve differently a moment later (DNS rebinding); the window is one lookup wide.
 */
export const resolveHost: ResolveHost = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** The client's IP address, for per-client rate limits. */
export function remoteAddress(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined;
  }
}

export interface NodeProxyOptions extends ProxyOptions {
  /** Keep the cache in this directory (it survives restarts) instead of memory. Ignored when `cache` is given. */
  readonly cacheDir?: string;
  /** Size bound of the default cache, in bytes. Default 512 MiB in memory, 10 GiB on disk. */
  readonly cacheMaxBytes?: number;
}

/** node:crypto's incremental hash: digests each chunk as it arrives, where WebCrypto would copy the whole blob. */
export function nodeHash(algorithm: DigestAlgorithm): IncrementalHash {
  const hash = createHash(algorithm);
  return {
    update: (chunk) => {
      hash.update(chunk);
    },
    digest: () => hash.digest("hex"),
  };
}

/** `createProxy` with Node's defaults: DNS-checked upstreams, per-address rate limits, an optional disk cache. */
export function createNodeProxy(options: NodeProxyOptions = {}): Hono {
  const { cacheDir, cacheMaxBytes, ...rest } = options;
  const sized = cacheMaxBytes === undefined ? {} : { maxBytes: cacheMaxBytes };
  const cache =
    rest.cache ??
    (cacheDir ? new FsBlobCache({ dir: cacheDir, ...sized }) : new MemoryBlobCache({ ...sized, createHash: nodeHash }));
  return createProxy({ resolveHost, clientKey: remoteAddress, ...rest, cache });
}
