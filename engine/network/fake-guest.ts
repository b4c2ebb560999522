// A GuestNetwork that only records what it was asked, for unit tests of the engine's side of networking (the real
// one is guest.ts's, tested against the guest in test/integration). A port can be made "taken" to see a conflict.
import * as packet from "@dnsquery/dns-packet";
import { EngineError } from "../errors.ts";
import type { AttachOptions, GuestNetwork } from "./guest.ts";
import type { BridgeRuleOptions, PortRuleOptions } from "./iptables.ts";

type DnsAnswer = (query: Uint8Array) => Promise<Uint8Array>;

export class FakeGuestNetwork implements GuestNetwork {
  /** Each call as `method arg…`, in order. */
  readonly calls: string[] = [];
  /** Host ports some other program listens on (`tcp/8080`): publishing there fails as EADDRINUSE does. */
  readonly taken = new Set<string>();
  /** The DNS servers started, by `sandbox ip` (`- ip` for the guest's own). */
  readonly dns = new Map<string, DnsAnswer>();
  #veth = 0;

  async createBridge(name: string, cidrs: string | readonly string[]): Promise<void> {
    this.calls.push(`createBridge ${name} ${typeof cidrs === "string" ? cidrs : cidrs.join(" ")}`);
  }
  async createVxlan(o: { name: string; vni: number; local: string; bridge: string; mtu: number }): Promise<void> {
    this.calls.push(`createVxlan ${o.name} ${o.vni} ${o.local} ${o.bridge} mtu ${o.mtu}`);
  }
  async removeVxlan(name: string): Promise<void> {
    this.calls.push(`removeVxlan ${name}`);
  }
  async floodEntry(device: string, remote: string, add: boolean): Promise<void> {
    this.calls.push(`${add ? "" : "un"}floodEntry ${device} ${remote}`);
  }
  async removeBridge(name: string): Promise<void> {
    this.calls.push(`removeBridge ${name}`);
  }
  async createSandbox(id: string): Promise<{ path: string }> {
    this.calls.push(`createSandbox ${id}`);
    return { path: `/run/drydock/netns/${id}` };
  }
  async removeSandbox(id: string): Promise<void> {
    this.calls.push(`removeSandbox ${id}`);
    for (const key of [...this.dns.keys()]) if (key.startsWith(`${id} `)) this.dns.delete(key);
  }
  async attach(sandboxId: string, o: AttachOptions): Promise<string> {
    this.calls.push(
      `attach ${sandboxId} ${o.bridge} ${o.ifname} ${o.cidr} ${o.mac}${o.gateway ? ` via ${o.gateway}` : ""}${o.mtu ? ` mtu ${o.mtu}` : ""}`,
    );
    return `veth${String(this.#veth++).padStart(7, "0")}`;
  }
  async detach(sandboxId: string, ifname: string): Promise<void> {
    this.calls.push(`detach ${sandboxId} ${ifname}`);
  }
  async isolate(subnetA: string, subnetB: string): Promise<void> {
    this.calls.push(`isolate ${subnetA} ${subnetB}`);
  }
  async unisolate(subnetA: string, subnetB: string): Promise<void> {
    this.calls.push(`unisolate ${subnetA} ${subnetB}`);
  }
  async bridgeRules(o: BridgeRuleOptions, add: boolean): Promise<void> {
    this.calls.push(`${add ? "" : "un"}bridgeRules ${o.bridge} ${o.subnet}${o.routed ? ` routed ${o.routed}` : ""}`);
  }
  async portRules(p: PortRuleOptions, add: boolean): Promise<void> {
    this.calls.push(
      `${add ? "" : "un"}portRules ${p.proto} ${p.hostIp}:${p.hostPort} ${p.bridge} ${p.targetIp}:${p.targetPort}`,
    );
  }
  async publish(p: {
    proto: "tcp" | "udp";
    hostIp: string;
    hostPort: number;
    targetIp: string;
    targetPort: number;
  }): Promise<void> {
    this.calls.push(`publish ${p.proto} ${p.hostIp}:${p.hostPort} ${p.targetIp}:${p.targetPort}`);
    if (this.taken.has(`${p.proto}/${p.hostPort}`)) {
      throw new EngineError("conflict", `Bind for ${p.hostIp}:${p.hostPort} failed: port is already allocated`);
    }
  }
  async unpublish(p: { proto: "tcp" | "udp"; hostIp: string; hostPort: number }): Promise<void> {
    this.calls.push(`unpublish ${p.proto} ${p.hostIp}:${p.hostPort}`);
  }
  /** Where connectTcp leads, when a test gives it somewhere (a fake server). */
  tcp?: (ip: string, port: number) => { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
  async connectTcp(
    ip: string,
    port: number,
  ): Promise<{ readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }> {
    this.calls.push(`connectTcp ${ip}:${port}`);
    if (!this.tcp) throw new EngineError("unavailable", "the fake guest has no TCP");
    return this.tcp(ip, port);
  }
  async serveDns(sandboxId: string | undefined, ip: string, answer: DnsAnswer): Promise<void> {
    this.calls.push(`serveDns ${sandboxId ?? "-"} ${ip}`);
    this.dns.set(`${sandboxId ?? "-"} ${ip}`, answer);
  }
}

/**
 * A DNS server over TCP for tests (RFC 7766 framing): answers A queries for `records` (name → IPv4), NXDOMAIN for
 * the rest, its answer sent in pieces of `chunk` bytes to show that a reader puts them together.
 */
export function fakeTcpDnsServer(
  records: Record<string, string>,
  chunk = 1 << 16,
): { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> } {
  let respond!: ReadableStreamDefaultController<Uint8Array>;
  const readable = new ReadableStream<Uint8Array>({ start: (c) => (respond = c) });
  let received = new Uint8Array(0);
  const writable = new WritableStream<Uint8Array>({
    write(data) {
      const joined = new Uint8Array(received.length + data.length);
      joined.set(received);
      joined.set(data, received.length);
      received = joined;
      if (received.length < 2 || received.length < 2 + ((received[0]! << 8) | received[1]!)) return;
      const query = packet.decode(received.subarray(2));
      const question = query.questions![0]!;
      const ip = records[question.name];
      const answer = packet.encode({
        type: "response",
        id: query.id ?? 0,
        flags: ip ? 0 : 3,
        questions: [question],
        answers: ip ? [{ type: "A", name: question.name, ttl: 60, class: "IN", data: ip }] : [],
      });
      const framed = new Uint8Array([answer.length >> 8, answer.length & 0xff, ...answer]);
      for (let at = 0; at < framed.length; at += chunk) respond.enqueue(framed.slice(at, at + chunk));
    },
  });
  return { readable, writable };
}
