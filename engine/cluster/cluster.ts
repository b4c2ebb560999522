// Nodes: several guests restored from the same saved state, each made its own machine (MAC address, eth0 address,
// hostname, engine ID and name), their network cards joined by one EthernetSwitch. The first node's v86 router (and
// the Wisp relay behind it) is the switch's uplink: every node's containers go out through it.
import type { Drydock } from "../drydock.ts";
import { EngineError } from "../errors.ts";
import type { FrameLink } from "../vm/v86-machine.ts";
import { EthernetSwitch, formatMac, type SwitchOptions, type SwitchPort } from "./switch.ts";

/** The guests' subnet on eth0, and v86's router in it (the default gateway of every node). */
export const NODE_SUBNET = "192.168.86.0/24";
export const ROUTER_ADDRESS = "192.168.86.1";
/** v86's router's MAC address (its default), the one unicast the uplink port takes. */
export const ROUTER_MAC = "52:54:00:01:02:03";
/** The most nodes: their addresses are 192.168.86.101–.199 (v86's router answers ARP for .1–.99 itself). */
export const MAX_NODES = 99;

/** Who a node is, on the wire and to a Docker client. */
export interface NodeIdentity {
  /** 1, 2, …: node k has address 192.168.86.(100+k). */
  index: number;
  /** Hostname and `docker info` Name: node1, node2, … */
  name: string;
  /** `docker info` ID. */
  id: string;
  /** eth0's MAC address: 02:d7:00:00:00:<k> (locally administered). */
  mac: string;
  /** eth0's IPv4 address. */
  address: string;
}

function randomId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Node k's identity: name node<k>, address 192.168.86.(100+k), MAC 02:d7:00:00:00:<k>, a fresh random ID.
 * @example
 * nodeIdentity(2); // { index: 2, name: "node2", address: "192.168.86.102", mac: "02:d7:00:00:00:02", id: "…" }
 */
export function nodeIdentity(index: number, id = randomId()): NodeIdentity {
  if (!Number.isInteger(index) || index < 1 || index > MAX_NODES) {
    throw new EngineError(
      "invalidArgument",
      `a node's number must be a whole number from 1 to ${MAX_NODES}, got ${index}`,
    );
  }
  const mac = formatMac(Uint8Array.of(0x02, 0xd7, 0, 0, 0, index));
  return { index, name: `node${index}`, id, mac, address: `192.168.86.${100 + index}` };
}

/**
 * Makes a restored guest this node: eth0's MAC and address, the default route, the hostname. (Every guest restored
 * from one saved state starts as 192.168.86.100, hostname drydock, with the same MAC.)
 */
export async function applyIdentity(drydock: Drydock, identity: NodeIdentity): Promise<void> {
  const script = [
    "set -e",
    // busybox ip sets a MAC through an AF_PACKET socket, which the kernel lacks; ifconfig uses an ioctl.
    `ifconfig eth0 hw ether ${identity.mac}`,
    "ip addr flush dev eth0",
    `ip addr add ${identity.address}/24 dev eth0`,
    `ip route replace default via ${ROUTER_ADDRESS}`,
    "ip neigh flush dev eth0",
    `hostname ${identity.name}`,
  ].join("\n");
  const { code, stderr } = await drydock.agent.run(["sh", "-c", script]);
  if (code !== 0) {
    throw new EngineError(
      "internal",
      `could not make the guest ${identity.name} (${identity.address}, ${identity.mac}): ${stderr.trim() || `exit ${code}`}`,
    );
  }
}

export interface ClusterNode {
  identity: NodeIdentity;
  drydock: Drydock;
  /** Takes the node off the switch (its guest is not stopped). */
  leave(): void;
}

/**
 * The switch and the nodes on it.
 * @example
 * const cluster = new Cluster();
 * const node = await cluster.join(await bootDrydock({ relay }), nodeIdentity(1));
 */
export class Cluster {
  readonly ethernet: EthernetSwitch;
  readonly #ports = new Map<string, { port: SwitchPort; off: () => void }>();
  #uplink: { owner: string; port: SwitchPort; off: () => void } | undefined;

  constructor(options: SwitchOptions = {}) {
    this.ethernet = new EthernetSwitch(options);
  }

  /**
   * Wires a freshly restored guest onto the switch and gives it `identity`. A guest joining under a name already on
   * the switch (a node's replacement after a fault) takes the old one's place.
   */
  async join(drydock: Drydock, identity: NodeIdentity): Promise<ClusterNode> {
    this.#unplug(identity.name);
    const { card, router } = drydock.machine.takeNetwork();
    const port = this.ethernet.attach({ name: identity.name, deliver: (frame) => card.send(frame) });
    const off = card.onFrame((frame) => port.send(frame));
    this.#ports.set(identity.name, { port, off });
    if (router && !this.#uplink) this.#plugUplink(identity.name, router);
    try {
      await applyIdentity(drydock, identity);
    } catch (error) {
      this.#unplug(identity.name);
      throw error;
    }
    return { identity, drydock, leave: () => this.#unplug(identity.name) };
  }

  /**
   * Puts a network card that lives elsewhere (a guest in another worker, behind a cable) on the switch as `name`;
   * the caller gives that guest its identity. Returns the unplugging.
   * @example
   * const unplug = cluster.plug("node2", frameLinkOverPort(framesChannel.port1));
   */
  plug(name: string, link: FrameLink): () => void {
    this.#unplug(name);
    const port = this.ethernet.attach({ name, deliver: (frame) => link.send(frame) });
    const off = link.onFrame((frame) => port.send(frame));
    this.#ports.set(name, { port, off });
    return () => this.#unplug(name);
  }

  /** The nodes on the switch, by name. */
  nodes(): string[] {
    return [...this.#ports.keys()];
  }

  /** Whose router is the way out (undefined: no node had a relay). */
  get uplinkOwner(): string | undefined {
    return this.#uplink?.owner;
  }

  #plugUplink(owner: string, router: FrameLink): void {
    const port = this.ethernet.attach({
      name: "uplink",
      deliver: (frame) => router.send(frame),
      acceptsFlood: (frame) => formatMac(frame, 0) === ROUTER_MAC,
    });
    const off = router.onFrame((frame) => port.send(frame));
    this.#uplink = { owner, port, off };
  }

  #unplug(name: string): void {
    const wired = this.#ports.get(name);
    if (wired) {
      wired.off();
      wired.port.detach();
      this.#ports.delete(name);
    }
    if (this.#uplink?.owner === name) {
      this.#uplink.off();
      this.#uplink.port.detach();
      this.#uplink = undefined;
    }
  }
}
