// The proxy's Node side: DNS checks with the system resolver, client addresses for rate limiting, and the choice of a
// disk or memory cache. The CLI and the Vite plugin both build their app here; index.ts stays free of Node APIs so
// `app.fetch` can also be deployed to an edge runtime.

import { createHash } from "node:crypto";
import { lookup } from "node:dns/promises";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context, Hono } from "hono";
import { Agent, fetch as undiciFetch } from "undici";
import { createProxy, type ProxyOptions } from "./app.ts";
import { type DigestAlgorithm, type IncrementalHash, MemoryBlobCache } from "./cache.ts";
import { FsBlobCache } from "./cache-fs.ts";
import type { FetchFunction, ResolveHost } from "./upstream.ts";

/**
 * Resolves a name the way Node's fetch would when it connects (getaddrinfo, so /etc/hosts counts too). The connection
 * then goes to the address checked (`pinnedFetch`), not to a second lookup's answer.
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

/**
 * `createProxy` with Node's defaults: DNS-checked upstreams connected to at the address checked, per-address rate
 * limits, an optional disk cache.
 */
export function createNodeProxy(options: NodeProxyOptions = {}): Hono {
  const { cacheDir, cacheMaxBytes, ...rest } = options;
  const sized = cacheMaxBytes === undefined ? {} : { maxBytes: cacheMaxBytes };
  const cache =
    rest.cache ??
    (cacheDir ? new FsBlobCache({ dir: cacheDir, ...sized }) : new MemoryBlobCache({ ...sized, createHash: nodeHash }));
  return createProxy({ resolveHost, clientKey: remoteAddress, fetch: pinnedFetch, ...rest, cache });
}

// One connection pool per pinned address: a pooled connection is always to an address that was checked.
const pinnedAgents = new Map<string, Agent>();
const MAX_PINNED_AGENTS = 32;

function agentFor(address: string): Agent {
  const known = pinnedAgents.get(address);
  if (known) {
    pinnedAgents.delete(address);
    pinnedAgents.set(address, known);
    return known;
  }
  const family = address.includes(":") ? 6 : 4;
  const agent = new Agent({
    connect: {
      // Whatever name the connection is for, it goes to the address that was checked (TLS still verifies the name).
      lookup: (_hostname, options, callback) => {
        if (options.all) callback(null, [{ address, family }]);
        else callback(null, address, family);
      },
    },
  });
  pinnedAgents.set(address, agent);
  if (pinnedAgents.size > MAX_PINNED_AGENTS) {
    const [oldest, stale] = pinnedAgents.entries().next().value!;
    pinnedAgents.delete(oldest);
    void stale.close().catch(() => {});
  }
  return agent;
}

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * A fetch that connects to the address `checkUrl` resolved and allowed (undici with a pinned lookup), so a name that
 * resolves to a public address for the check and a private one a moment later (DNS rebinding) cannot steer the
 * connection; without a target it is the global fetch.
 */
export const pinnedFetch: FetchFunction = async (request, target) => {
  if (!target) return fetch(request);
  const answer = await undiciFetch(request.url, {
    method: request.method,
    headers: [...request.headers],
    redirect: "manual",
    signal: request.signal,
    dispatcher: agentFor(target.address),
  });
  const body = NULL_BODY_STATUSES.has(answer.status) ? null : (answer.body as ReadableStream<Uint8Array> | null);
  return new Response(body, { status: answer.status, statusText: answer.statusText, headers: [...answer.headers] });
};
