// The guest's side of container networking: what the engine asks the guest kernel to do (bridges, network
// namespaces, veth pairs, policy-routing isolation, the userland port proxy, TCP connections into the guest and the
// embedded DNS server's sockets). drydockd does each step through rtnetlink and sockets; the engine only decides.

/** What the engine asks the guest's kernel to do for container networking; implemented over the agent. */
export interface GuestNetwork {
  /** A bridge device with the gateway address (CIDR, e.g. "172.18.0.1/16"), up. Idempotent. */
  createBridge(name: string, gatewayCidr: string): Promise<void>;
  /** Deletes the bridge device (its veth ends go with it). Removing a bridge that is not there is not an error. */
  removeBridge(name: string): Promise<void>;
  /** A network namespace held open at a path (bind mount), `lo` up; a container's spawn joins it by path. */
  createSandbox(id: string): Promise<{ path: string }>;
  /** Unmounts and deletes the sandbox's namespace file; its interfaces and DNS sockets go with it. */
  removeSandbox(id: string): Promise<void>;
  /** A veth pair: one end on `bridge` in the guest, the other moved into the sandbox as `ifname` with `cidr`,
   *  `mac`, up, and (when `gateway` is given) the default route through it. Returns the host-side name. */
  attach(
    sandboxId: string,
    o: { bridge: string; ifname: string; cidr: string; mac: string; gateway?: string },
  ): Promise<string>;
  /** Deletes the sandbox's interface `ifname` (and so its veth peer on the bridge). */
  detach(sandboxId: string, ifname: string): Promise<void>;
  /** Policy routing: traffic from one subnet to the other is refused (both directions). */
  isolate(subnetA: string, subnetB: string): Promise<void>;
  /** Removes the rules `isolate` added for this pair. */
  unisolate(subnetA: string, subnetB: string): Promise<void>;
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
