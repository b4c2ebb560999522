// Where the relay lets a client connect. A guest's TCP stack connects to IP addresses, so the rule is two-step: the
// relay's own resolver (`/dns-query`) answers only for names on the allowlist, remembers which addresses it handed to
// which client, and a connection to an address is let through only when that address was handed to that client for
// an allowlisted name, is public (the proxy's address checker, after DNS), and the port is allowed. A client that
// names a host instead (any other Wisp client) goes through the same allowlist and checks, and is connected to the
// very address that was checked.

import { classifyAddress, isIpLiteral, isLocalName } from "../proxy/address.ts";
import { DEFAULT_UPSTREAMS, type UpstreamConfig } from "../proxy/names.ts";
import type { ResolveHost } from "../proxy/upstream.ts";

/**
 * The default allowlist: Debian's and Alpine's domains (their archives, security updates, CDN and mirrors all live
 * under them), so `apt-get` and `apk add` work in containers and builds, plus the registries the proxy fronts.
 */
export const DEFAULT_PACKAGE_DOMAINS: readonly string[] = ["*.debian.org", "*.alpinelinux.org"];

/** The hosts a registry client talks to for each of the proxy's upstreams (token realms and blob CDNs included). */
export function registryHosts(upstreams: Readonly<Record<string, UpstreamConfig>> = DEFAULT_UPSTREAMS): string[] {
  const hosts = new Set<string>();
  for (const [alias, upstream] of Object.entries(upstreams)) {
    try {
      hosts.add(new URL(upstream.url).hostname);
    } catch {
      // An upstream without a valid URL has no host to allow.
    }
    if (alias === "docker.io") {
      // Docker Hub's token realm and blob CDN, where every pull from it goes.
      hosts.add("auth.docker.io");
      hosts.add("production.cloudflare.docker.com");
    }
  }
  return [...hosts];
}

export const DEFAULT_ALLOWLIST: readonly string[] = [...DEFAULT_PACKAGE_DOMAINS, ...registryHosts()];

export const DEFAULT_PORTS: readonly number[] = [80, 443];

/** How long an address handed out by the resolver stays connectable for the client it was handed to. */
export const DEFAULT_HANDED_OUT_MS = 10 * 60_000;

/** Whether `pattern` (`host.example` exactly, or `*.example` for the domain and every name under it) is valid. */
export function isValidAllowEntry(pattern: string): boolean {
  return /^(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/.test(pattern);
}

/** A host name as DNS compares it: lower case, without the root's trailing dot. */
export function normalizeName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, "");
}

/** Matches names against the allowlist's entries. */
export class Allowlist {
  readonly #exact = new Set<string>();
  readonly #domains: string[] = [];
  readonly entries: readonly string[];

  constructor(entries: readonly string[]) {
    const kept: string[] = [];
    for (const raw of entries) {
      const entry = normalizeName(raw);
      if (!isValidAllowEntry(entry)) {
        throw new Error(`not a host name or *.domain: ${JSON.stringify(raw)}`);
      }
      kept.push(entry);
      if (entry.startsWith("*.")) this.#domains.push(entry.slice(2));
      else this.#exact.add(entry);
    }
    this.entries = kept;
  }

  allows(name: string): boolean {
    const host = normalizeName(name);
    if (this.#exact.has(host)) return true;
    return this.#domains.some((domain) => host === domain || host.endsWith(`.${domain}`));
  }
}

/** Per client: the addresses the resolver handed out, for which name, until when. Bounded in clients and addresses. */
export class HandedOut {
  readonly #clients = new Map<string, Map<string, { name: string; until: number }>>();
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #maxClients: number;
  readonly #maxPerClient: number;

  constructor(options: { ttlMs?: number; now?: () => number; maxClients?: number; maxPerClient?: number } = {}) {
    this.#ttlMs = options.ttlMs ?? DEFAULT_HANDED_OUT_MS;
    this.#now = options.now ?? Date.now;
    this.#maxClients = options.maxClients ?? 10_000;
    this.#maxPerClient = options.maxPerClient ?? 1024;
  }

  remember(client: string, name: string, addresses: readonly string[]): void {
    let table = this.#clients.get(client);
    if (table) this.#clients.delete(client);
    else table = new Map();
    this.#clients.set(client, table);
    if (this.#clients.size > this.#maxClients) {
      const oldest = this.#clients.keys().next().value;
      if (oldest !== undefined) this.#clients.delete(oldest);
    }
    const until = this.#now() + this.#ttlMs;
    for (const address of addresses) {
      table.delete(address);
      table.set(address, { name, until });
    }
    while (table.size > this.#maxPerClient) {
      const oldest = table.keys().next().value;
      if (oldest === undefined) break;
      table.delete(oldest);
    }
  }

  /** The allowlisted name `address` was handed to `client` for, if that is still recent. */
  nameFor(client: string, address: string): string | undefined {
    const entry = this.#clients.get(client)?.get(address);
    if (!entry) return undefined;
    if (entry.until < this.#now()) {
      this.#clients.get(client)?.delete(address);
      return undefined;
    }
    return entry.name;
  }
}

export interface RelayPolicyOptions {
  /** Names that may be resolved and connected to (`host` or `*.domain`). Default `DEFAULT_ALLOWLIST`. */
  readonly allow?: readonly string[];
  /** Destination ports allowed. Default 80 and 443. */
  readonly ports?: readonly number[];
  /**
   * Allowlisted names that may resolve to private or loopback addresses (an operator's local mirror). Named
   * explicitly; never in the defaults.
   */
  readonly privateNames?: readonly string[];
  /** DNS lookup; node.ts's getaddrinfo-based `resolveHost` in the server. */
  readonly resolve: ResolveHost;
  /** How long a handed-out address stays connectable. */
  readonly handedOutMs?: number;
  readonly now?: () => number;
}

/** A refusal: what a log line and a trace say, and the Wisp close reason or DNS answer that carries it. */
export class Refusal extends Error {
  override name = "Refusal";
  constructor(
    message: string,
    readonly kind: "blocked" | "notFound" | "unavailable",
  ) {
    super(message);
  }
}

export type Resolution = { name: string; addresses: string[] };

/** The relay's rules: which names resolve, which addresses and ports may be connected to, per client. */
export class RelayPolicy {
  readonly allowlist: Allowlist;
  readonly ports: ReadonlySet<number>;
  readonly #privateNames: Allowlist;
  readonly #resolve: ResolveHost;
  readonly #handedOut: HandedOut;

  constructor(options: RelayPolicyOptions) {
    this.allowlist = new Allowlist(options.allow ?? DEFAULT_ALLOWLIST);
    this.ports = new Set(options.ports ?? DEFAULT_PORTS);
    this.#privateNames = new Allowlist(options.privateNames ?? []);
    this.#resolve = options.resolve;
    this.#handedOut = new HandedOut({
      ...(options.handedOutMs === undefined ? {} : { ttlMs: options.handedOutMs }),
      ...(options.now ? { now: options.now } : {}),
    });
  }

  /**
   * Resolves an allowlisted name for `client` and remembers the addresses as handed to it. Refuses a name off the
   * allowlist, a local name, and a name with any non-public address (unless the operator named it as private).
   */
  async resolveFor(client: string, rawName: string): Promise<Resolution> {
    const name = normalizeName(rawName);
    if (isIpLiteral(name)) throw new Refusal(`${name} is an address, not a name`, "blocked");
    if (isLocalName(name)) throw new Refusal(`${name} is a local name, which the relay never resolves`, "blocked");
    if (!this.allowlist.allows(name)) {
      throw new Refusal(`${name} is not on the relay's allowlist (${this.allowlist.entries.join(", ")})`, "blocked");
    }
    let addresses: readonly string[];
    try {
      addresses = await this.#resolve(name);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const notFound = code === "ENOTFOUND" || code === "ENODATA";
      throw new Refusal(
        `cannot resolve ${name}: ${error instanceof Error ? error.message : String(error)}`,
        notFound ? "notFound" : "unavailable",
      );
    }
    if (addresses.length === 0) throw new Refusal(`${name} has no address`, "notFound");
    if (!this.#privateNames.allows(name)) {
      for (const address of addresses) {
        const kind = classifyAddress(address);
        if (kind !== "public") {
          throw new Refusal(
            `${name} resolves to ${address}, a ${kind} address, which the relay never connects to`,
            "blocked",
          );
        }
      }
    }
    this.#handedOut.remember(client, name, addresses);
    return { name, addresses: [...addresses] };
  }

  /**
   * Decides a connection of `client` to `host:port` (TCP). Answers the address to connect to (always an IP literal,
   * the one checked) and the name it stands for, or throws a Refusal saying why not.
   */
  async checkConnect(client: string, host: string, port: number): Promise<{ address: string; name: string }> {
    if (!this.ports.has(port)) {
      throw new Refusal(`port ${port} is not allowed (the relay allows ${[...this.ports].join(", ")})`, "blocked");
    }
    const target = normalizeName(host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host);
    if (isIpLiteral(target)) {
      const name = this.#handedOut.nameFor(client, target);
      const kind = classifyAddress(target);
      if (kind !== "public" && !(name && this.#privateNames.allows(name))) {
        throw new Refusal(`${target} is a ${kind} address, which the relay never connects to`, "blocked");
      }
      if (!name) {
        throw new Refusal(
          `${target} was not handed out by the relay's resolver for an allowlisted name (resolve names through the relay's /dns-query; allowed: ${this.allowlist.entries.join(", ")})`,
          "blocked",
        );
      }
      return { address: target, name };
    }
    const { name, addresses } = await this.resolveFor(client, target);
    return { address: addresses[0]!, name };
  }
}
