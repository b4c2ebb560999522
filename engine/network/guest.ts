// The guest's side of container networking: what the engine asks the guest kernel to do (bridges, network
// namespaces, veth pairs, an overlay network's VXLAN device and its flood entries, dockerd's iptables rules, policy-routing isolation, the userland port proxy, TCP connections
// into the guest and the embedded DNS server's sockets). drydockd does each step through rtnetlink and sockets, the
// guest's `iptables-restore` the netfilter rules; the engine only decides.

import type { AgentClient } from "../agent/index.ts";
import { EngineError, isEngineError } from "../errors.ts";
import type { Tracer } from "../trace/index.ts";
import {
  type BridgeRuleOptions,
  baseRules,
  bridgeRules,
  deleting,
  type PortRuleOptions,
  portRules,
  type Rule,
  restoreInput,
} from "./iptables.ts";

/** Where sandboxes (network namespaces) are held open, one file per sandbox id. */
export const NETNS_DIR = "/run/drydock/netns";

/** What the engine asks the guest's kernel to do for container networking; implemented over the agent. */
export interface GuestNetwork {
  /**
   * A bridge device with the gateway address (CIDR, e.g. "172.18.0.1/16"), up. Idempotent. Given several addresses
   * (an overlay network's: the node's own, then the gateway), the first is the primary one, the source of what the
   * node itself sends into the subnet.
   */
  createBridge(name: string, cidrs: string | readonly string[]): Promise<void>;
  /** A VXLAN device (VNI, local tunnel end, UDP port 4789, learning) on `bridge`, up. Idempotent. */
  createVxlan(o: { name: string; vni: number; local: string; bridge: string; mtu: number }): Promise<void>;
  /** Deletes a VXLAN device (a bridge's deletion leaves its ports); one that is not there is not an error. */
  removeVxlan(name: string): Promise<void>;
  /** The VXLAN device's flood entry for the node at `remote` (broadcast and unknown unicast go there), added or deleted. */
  floodEntry(device: string, remote: string, add: boolean): Promise<void>;
  /** Deletes the bridge device (its veth ends go with it). Removing a bridge that is not there is not an error. */
  removeBridge(name: string): Promise<void>;
  /** A network namespace held open at a path (bind mount), `lo` up; a container's spawn joins it by path. */
  createSandbox(id: string): Promise<{ path: string }>;
  /** Unmounts and deletes the sandbox's namespace file; its interfaces and DNS sockets go with it. */
  removeSandbox(id: string): Promise<void>;
  /** A veth pair: one end on `bridge` in the guest, the other moved into the sandbox as `ifname` with `cidr`,
   *  `mac`, up, and (when `gateway` is given) the default route through it; both ends with `mtu` when given.
   *  Returns the host-side name. */
  attach(sandboxId: string, o: AttachOptions): Promise<string>;
  /** Deletes the sandbox's interface `ifname` (and so its veth peer on the bridge). */
  detach(sandboxId: string, ifname: string): Promise<void>;
  /** Policy routing: traffic from one subnet to the other is refused (both directions). */
  isolate(subnetA: string, subnetB: string): Promise<void>;
  /** Removes the rules `isolate` added for this pair. */
  unisolate(subnetA: string, subnetB: string): Promise<void>;
  /**
   * Docker's iptables rules for a bridge network (iptables.ts: MASQUERADE, the proxy's skip-DNAT RETURN, FORWARD and
   * the isolation drops), added or deleted; the chains they live in are made first, once.
   */
  bridgeRules(o: BridgeRuleOptions, add: boolean): Promise<void>;
  /** A published port's DNAT and ACCEPT rules (beside the userland proxy, as dockerd's), added or deleted. */
  portRules(p: PortRuleOptions, add: boolean): Promise<void>;
  /** The userland proxy: listen on the guest's hostIp:hostPort and forward to target. EADDRINUSE → EngineError
   *  "conflict" (the networks helper words it as Docker does: "Bind for 0.0.0.0:8080 failed: port is already allocated"). */
  publish(p: {
    proto: "tcp" | "udp";
    hostIp: string;
    hostPort: number;
    targetIp: string;
    targetPort: number;
  }): Promise<void>;
  /** Stops the proxy listening on hostIp:hostPort; connections already forwarded are closed. */
  unpublish(p: { proto: "tcp" | "udp"; hostIp: string; hostPort: number }): Promise<void>;
  /** A TCP connection opened inside the guest (root namespace) to ip:port, as a byte stream pair. */
  connectTcp(
    ip: string,
    port: number,
  ): Promise<{ readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }>;
  /** Serve DNS on udp `ip`:53 inside the sandbox (or in the guest when sandboxId is undefined); each query is
   *  answered by `answer` (a DNS message in, a DNS message out). Stops with the sandbox. */
  serveDns(
    sandboxId: string | undefined,
    ip: string,
    answer: (query: Uint8Array) => Promise<Uint8Array>,
  ): Promise<void>;
}

/** A container's interface on a bridge (see GuestNetwork.attach). */
export interface AttachOptions {
  bridge: string;
  ifname: string;
  cidr: string;
  mac: string;
  gateway?: string;
  mtu?: number;
}

const SANDBOX_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** The guest path of a sandbox's network namespace. */
export function sandboxPath(id: string): string {
  if (!SANDBOX_ID.test(id)) {
    throw new EngineError("invalidArgument", `invalid sandbox id ${JSON.stringify(id)}: use letters, digits, _ . -`);
  }
  return `${NETNS_DIR}/${id}`;
}

function checkIpv4(ip: string, what: string): void {
  if (!IPV4.test(ip)) {
    throw new EngineError(
      "invalidArgument",
      `${what} ${JSON.stringify(ip)} is not an IPv4 address (the guest has no IPv6)`,
    );
  }
}

function checkCidr(cidr: string, what: string): void {
  const [ip, prefix, extra] = cidr.split("/");
  const bits = Number(prefix);
  if (extra !== undefined || !ip || !IPV4.test(ip) || !Number.isInteger(bits) || bits < 0 || bits > 32) {
    throw new EngineError("invalidArgument", `${what} ${JSON.stringify(cidr)} is not an IPv4 CIDR (a.b.c.d/len)`);
  }
}

/** A Linux interface name: up to 15 characters, none of them blank, `/` or `:` (iptables takes it as one word). */
function checkIfname(name: string): void {
  if (!/^[^\s/:]{1,15}$/.test(name)) {
    throw new EngineError("invalidArgument", `${JSON.stringify(name)} is not a network interface name`);
  }
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new EngineError("invalidArgument", `${what} ${port} is not a port number (1-65535)`);
  }
}

/** dockerd names the guest end of a container's veth pair `veth` + 7 random hex digits. */
function vethName(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return `veth${Array.from(bytes, (b) => b.toString(16).padStart(2, "0"))
    .join("")
    .slice(0, 7)}`;
}

async function ignoring<T>(kind: "notFound", work: Promise<T>): Promise<void> {
  try {
    await work;
  } catch (error) {
    if (!isEngineError(error, kind)) throw error;
  }
}

/**
 * GuestNetwork over drydockd: every step is one agent request (rtnetlink and sockets in the guest) and one trace
 * event phrased as the command a person would type for it.
 * @example
 * const net = new AgentGuestNetwork(agent, tracer);
 * await net.createBridge("docker0", "172.17.0.1/16");
 * const { path } = await net.createSandbox("3f2a1b4c5d6e");
 * await net.attach("3f2a1b4c5d6e", { bridge: "docker0", ifname: "eth0", cidr: "172.17.0.2/16",
 *   mac: "02:42:ac:11:00:02", gateway: "172.17.0.1" });
 * // spawn the container with { netns: path }
 */
export class AgentGuestNetwork implements GuestNetwork {
  readonly #agent: AgentClient;
  readonly #tracer: Tracer | undefined;
  /** The DNS servers of each sandbox ("" for the guest's own), to stop with it. */
  readonly #dns = new Map<string, (() => void)[]>();
  /** Docker's chains, made once. */
  #chains: Promise<void> | undefined;

  constructor(agent: AgentClient, tracer?: Tracer) {
    this.#agent = agent;
    this.#tracer = tracer;
  }

  #trace(argv: string[], subject?: string, note?: string): void {
    this.#tracer?.emit(note ? { op: "net", argv, note } : { op: "net", argv }, subject);
  }

  async createBridge(name: string, cidrs: string | readonly string[]): Promise<void> {
    const addresses = typeof cidrs === "string" ? [cidrs] : [...cidrs];
    for (const cidr of addresses) checkCidr(cidr, "bridge address");
    this.#trace(
      ["ip", "link", "add", name, "type", "bridge"],
      undefined,
      "with a random MAC of its own, kept for good",
    );
    for (const cidr of addresses) this.#trace(["ip", "addr", "add", cidr, "dev", name]);
    this.#trace(["ip", "link", "set", name, "up"]);
    await this.#agent.createBridge(name, addresses);
  }

  async createVxlan(o: { name: string; vni: number; local: string; bridge: string; mtu: number }): Promise<void> {
    checkIfname(o.name);
    checkIpv4(o.local, "tunnel address");
    this.#trace(
      [
        "ip",
        "link",
        "add",
        o.name,
        "mtu",
        String(o.mtu),
        "type",
        "vxlan",
        "id",
        String(o.vni),
        "local",
        o.local,
        "dstport",
        "4789",
        "learning",
      ],
      undefined,
      "the overlay's tunnel end: Ethernet frames in UDP to the other nodes",
    );
    this.#trace(["ip", "link", "set", o.name, "master", o.bridge, "up"]);
    await this.#agent.createVxlan({ name: o.name, vni: o.vni, local: o.local, bridge: o.bridge, mtu: o.mtu });
  }

  async removeVxlan(name: string): Promise<void> {
    this.#trace(["ip", "link", "del", name]);
    await ignoring("notFound", this.#agent.deleteLink(name));
  }

  async floodEntry(device: string, remote: string, add: boolean): Promise<void> {
    checkIpv4(remote, "node address");
    this.#trace(
      ["bridge", "fdb", add ? "append" : "del", "00:00:00:00:00:00", "dev", device, "dst", remote],
      undefined,
      add ? "broadcasts and unknown addresses go to that node too" : undefined,
    );
    const work = this.#agent.floodEntry(device, remote, add);
    if (add) await work;
    else await ignoring("notFound", work);
  }

  async removeBridge(name: string): Promise<void> {
    this.#trace(["ip", "link", "del", name]);
    await ignoring("notFound", this.#agent.deleteLink(name));
  }

  async createSandbox(id: string): Promise<{ path: string }> {
    const path = sandboxPath(id);
    this.#trace(["unshare", `--net=${path}`, "true"], id, "a network namespace held open by a bind mount");
    this.#trace(["nsenter", `--net=${path}`, "ip", "link", "set", "lo", "up"], id);
    await this.#agent.createNetns(path);
    return { path };
  }

  async removeSandbox(id: string): Promise<void> {
    const path = sandboxPath(id);
    for (const stop of this.#dns.get(id) ?? []) stop();
    this.#dns.delete(id);
    this.#trace(["umount", path], id);
    this.#trace(["rm", path], id);
    await ignoring("notFound", this.#agent.deleteNetns(path));
  }

  async attach(sandboxId: string, o: AttachOptions): Promise<string> {
    const path = sandboxPath(sandboxId);
    if (o.gateway) checkIpv4(o.gateway, "gateway");
    const name = vethName();
    const inside = ["nsenter", `--net=${path}`, "ip"];
    const mtu = o.mtu ? ["mtu", String(o.mtu)] : [];
    this.#trace(
      [
        "ip",
        "link",
        "add",
        name,
        ...mtu,
        "type",
        "veth",
        "peer",
        "name",
        o.ifname,
        ...mtu,
        "address",
        o.mac,
        "netns",
        path,
      ],
      sandboxId,
    );
    this.#trace(["ip", "link", "set", name, "master", o.bridge, "up"], sandboxId);
    this.#trace([...inside, "addr", "add", o.cidr, "dev", o.ifname], sandboxId);
    this.#trace([...inside, "link", "set", o.ifname, "up"], sandboxId);
    if (o.gateway) this.#trace([...inside, "route", "add", "default", "via", o.gateway], sandboxId);
    await this.#agent.createVeth({
      name,
      bridge: o.bridge,
      netns: path,
      peer: o.ifname,
      cidr: o.cidr,
      mac: o.mac,
      ...(o.gateway ? { gateway: o.gateway } : {}),
      ...(o.mtu ? { mtu: o.mtu } : {}),
    });
    return name;
  }

  async detach(sandboxId: string, ifname: string): Promise<void> {
    const path = sandboxPath(sandboxId);
    this.#trace(["nsenter", `--net=${path}`, "ip", "link", "del", ifname], sandboxId);
    await this.#agent.deleteLink(ifname, path);
  }

  async isolate(subnetA: string, subnetB: string): Promise<void> {
    for (const [from, to] of [
      [subnetA, subnetB],
      [subnetB, subnetA],
    ] as const) {
      this.#trace(["ip", "rule", "add", "from", from, "to", to, "prohibit", "priority", "1000"]);
      await this.#agent.prohibitRoute(from, to, true);
    }
  }

  async unisolate(subnetA: string, subnetB: string): Promise<void> {
    for (const [from, to] of [
      [subnetA, subnetB],
      [subnetB, subnetA],
    ] as const) {
      this.#trace(["ip", "rule", "del", "from", from, "to", to, "prohibit", "priority", "1000"]);
      await ignoring("notFound", this.#agent.prohibitRoute(from, to, false));
    }
  }

  /** Applies rules in one `iptables-restore --noflush` (each traced as the `iptables` command it stands for). */
  async #iptables(rules: Rule[], subject?: string): Promise<void> {
    for (const rule of rules) this.#trace(["iptables", ...rule], subject);
    const { code, stderr } = await this.#agent.run(["/sbin/iptables-restore", "-w", "--noflush"], {
      input: restoreInput(rules),
    });
    if (code !== 0) {
      throw new EngineError(
        "internal",
        `the guest's iptables refused Docker's rules: ${stderr.trim() || `iptables-restore exited ${code}`}`,
      );
    }
  }

  /** Deletes rules; one that is already gone is skipped (the rest still go). */
  async #unrules(rules: Rule[], subject?: string): Promise<void> {
    try {
      await this.#iptables(rules, subject);
    } catch {
      for (const rule of rules) await this.#agent.run(["/sbin/iptables", "-w", ...rule]);
    }
  }

  #ensureChains(): Promise<void> {
    this.#chains ??= (async () => {
      // A guest that already has them (an engine started again on it) keeps its own.
      const { code } = await this.#agent.run(["/sbin/iptables", "-w", "-t", "nat", "-n", "-L", "DOCKER"]);
      if (code !== 0) await this.#iptables(baseRules());
    })().catch((error: unknown) => {
      this.#chains = undefined;
      throw error;
    });
    return this.#chains;
  }

  async bridgeRules(o: BridgeRuleOptions, add: boolean): Promise<void> {
    checkCidr(o.subnet, "subnet");
    if (o.routed) checkCidr(o.routed, "routed block");
    checkIfname(o.bridge);
    await this.#ensureChains();
    const rules = bridgeRules(o);
    if (add) await this.#iptables(rules);
    else await this.#unrules(deleting(rules));
  }

  async portRules(p: PortRuleOptions, add: boolean): Promise<void> {
    checkIpv4(p.hostIp || "0.0.0.0", "host IP");
    checkIpv4(p.targetIp, "container IP");
    checkPort(p.hostPort, "host port");
    checkPort(p.targetPort, "container port");
    checkIfname(p.bridge);
    await this.#ensureChains();
    const rules = portRules(p);
    if (add) await this.#iptables(rules);
    else await this.#unrules(deleting(rules));
  }

  async publish(p: {
    proto: "tcp" | "udp";
    hostIp: string;
    hostPort: number;
    targetIp: string;
    targetPort: number;
  }): Promise<void> {
    const hostIp = p.hostIp || "0.0.0.0";
    checkIpv4(hostIp, "host IP");
    checkIpv4(p.targetIp, "container IP");
    checkPort(p.hostPort, "host port");
    checkPort(p.targetPort, "container port");
    this.#trace(
      [
        "docker-proxy",
        "-proto",
        p.proto,
        "-host-ip",
        hostIp,
        "-host-port",
        String(p.hostPort),
        "-container-ip",
        p.targetIp,
        "-container-port",
        String(p.targetPort),
      ],
      undefined,
      "drydockd is the proxy",
    );
    await this.#agent.publishPort(
      { proto: p.proto, address: hostIp, port: p.hostPort },
      { ip: p.targetIp, port: p.targetPort },
    );
  }

  async unpublish(p: { proto: "tcp" | "udp"; hostIp: string; hostPort: number }): Promise<void> {
    const hostIp = p.hostIp || "0.0.0.0";
    checkIpv4(hostIp, "host IP");
    this.#trace(
      ["pkill", "-f", `docker-proxy -proto ${p.proto} -host-ip ${hostIp} -host-port ${p.hostPort}`],
      undefined,
      "drydockd stops listening",
    );
    await ignoring("notFound", this.#agent.unpublishPort({ proto: p.proto, address: hostIp, port: p.hostPort }));
  }

  async connectTcp(
    ip: string,
    port: number,
  ): Promise<{ readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }> {
    checkIpv4(ip, "address");
    checkPort(port, "port");
    this.#trace(["nc", ip, String(port)], undefined, "a connection from the guest, carried over the agent link");
    const connection = await this.#agent.connectTcp(ip, port);
    return { readable: connection.readable, writable: connection.writable };
  }

  async serveDns(
    sandboxId: string | undefined,
    ip: string,
    answer: (query: Uint8Array) => Promise<Uint8Array>,
  ): Promise<void> {
    checkIpv4(ip, "DNS address");
    const path = sandboxId === undefined ? undefined : sandboxPath(sandboxId);
    this.#trace(
      [...(path ? ["nsenter", `--net=${path}`] : []), "nc", "-lu", ip, "53"],
      sandboxId,
      "each query is answered by the engine's resolver",
    );
    const stop = await this.#agent.serveDns({ address: ip, ...(path ? { netns: path } : {}) }, answer);
    const key = sandboxId ?? "";
    this.#dns.set(key, [...(this.#dns.get(key) ?? []), stop]);
  }
}
