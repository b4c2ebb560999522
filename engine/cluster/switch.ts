// An Ethernet switch between the nodes' network cards: it learns which port each source MAC address was seen on,
// forwards a frame for a known MAC to that one port, and floods broadcast, multicast and unknown unicast to every
// other port. Entries age out (a node that went away, or a MAC that moved, is relearned from its next frame).
import { EngineError } from "../errors.ts";

/** One side of a link: frames it receives (`deliver`) and, once attached, frames it sends (`switch.receive`). */
export interface SwitchPortOptions {
  /** A name for errors and for `table()` (e.g. "node2", "uplink"). */
  name: string;
  /** Hands a frame to whatever is behind the port (a guest's network card, v86's router). */
  deliver: (frame: Uint8Array) => void;
  /**
   * Which unicast frames the port takes when flooding: by default all. The uplink (v86's router) takes only frames
   * for its own MAC address and broadcasts: its TCP stack answers any segment it is handed, so a frame flooded to it
   * for another node would get a second, false answer.
   */
  acceptsFlood?: (frame: Uint8Array) => boolean;
}

export interface SwitchPort {
  readonly name: string;
  /** A frame the device behind the port sent onto the wire. */
  send(frame: Uint8Array): void;
  /** Takes the port off the switch and forgets what was learned on it. */
  detach(): void;
}

export interface SwitchOptions {
  /** How long a learned MAC address is kept without a frame from it (default 300 s, as Linux bridges age). */
  ageingMs?: number;
  /** The clock (milliseconds); tests pass their own. */
  now?: () => number;
}

export interface SwitchCounters {
  /** Frames sent to one learned port. */
  forwarded: number;
  /** Frames sent to every other port (broadcast, multicast, unknown unicast). */
  flooded: number;
  /** Frames dropped: too short to be Ethernet, or addressed back to the port they came in on. */
  dropped: number;
}

const MIN_FRAME = 14;
export const DEFAULT_AGEING_MS = 300_000;

/** "02:00:00:00:00:01" for the 6 bytes at `offset`. */
export function formatMac(bytes: Uint8Array, offset = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(bytes[offset + i]!.toString(16).padStart(2, "0"));
  return parts.join(":");
}

/** Parses "02:00:00:00:00:01" into 6 bytes; a clear error otherwise. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(":");
  if (parts.length !== 6 || parts.some((part) => !/^[0-9a-fA-F]{1,2}$/.test(part))) {
    throw new EngineError(
      "invalidArgument",
      `${JSON.stringify(text)} is not a MAC address (six hex bytes, a:b:c:d:e:f)`,
    );
  }
  return Uint8Array.from(parts.map((part) => Number.parseInt(part, 16)));
}

/** The destination address has its group bit set: broadcast (ff:ff:ff:ff:ff:ff) or multicast. */
function isGroup(frame: Uint8Array): boolean {
  return (frame[0]! & 1) === 1;
}

function macKey(frame: Uint8Array, offset: number): string {
  return formatMac(frame, offset);
}

/**
 * A learning Ethernet switch.
 * @example
 * const ethernet = new EthernetSwitch();
 * const a = ethernet.attach({ name: "node1", deliver: (frame) => link1.send(frame) });
 * link1.onFrame((frame) => a.send(frame));
 */
export class EthernetSwitch {
  readonly #ports = new Set<PortState>();
  readonly #table = new Map<string, { port: PortState; seen: number }>();
  readonly #ageingMs: number;
  readonly #now: () => number;
  readonly counters: SwitchCounters = { forwarded: 0, flooded: 0, dropped: 0 };

  constructor(options: SwitchOptions = {}) {
    this.#ageingMs = options.ageingMs ?? DEFAULT_AGEING_MS;
    this.#now = options.now ?? (() => Date.now());
    if (!(this.#ageingMs > 0)) {
      throw new EngineError(
        "invalidArgument",
        `ageing time must be a positive number of milliseconds, got ${this.#ageingMs}`,
      );
    }
  }

  attach(options: SwitchPortOptions): SwitchPort {
    for (const port of this.#ports) {
      if (port.name === options.name) {
        throw new EngineError("conflict", `the switch already has a port named ${options.name}: detach it first`);
      }
    }
    const state: PortState = { name: options.name, deliver: options.deliver, acceptsFlood: options.acceptsFlood };
    this.#ports.add(state);
    return {
      name: options.name,
      send: (frame) => this.#receive(state, frame),
      detach: () => {
        this.#ports.delete(state);
        for (const [mac, entry] of this.#table) if (entry.port === state) this.#table.delete(mac);
      },
    };
  }

  /** The learned addresses still fresh: MAC → port name. */
  table(): Map<string, string> {
    const now = this.#now();
    const fresh = new Map<string, string>();
    for (const [mac, entry] of this.#table) {
      if (now - entry.seen <= this.#ageingMs) fresh.set(mac, entry.port.name);
    }
    return fresh;
  }

  #receive(from: PortState, frame: Uint8Array): void {
    if (!this.#ports.has(from) || frame.length < MIN_FRAME) {
      this.counters.dropped++;
      return;
    }
    const now = this.#now();
    // Learn the source (a group address is never a source).
    if ((frame[6]! & 1) === 0) this.#table.set(macKey(frame, 6), { port: from, seen: now });
    if (!isGroup(frame)) {
      const entry = this.#table.get(macKey(frame, 0));
      if (entry && now - entry.seen > this.#ageingMs) {
        this.#table.delete(macKey(frame, 0));
      } else if (entry) {
        if (entry.port === from) {
          this.counters.dropped++;
          return;
        }
        this.counters.forwarded++;
        entry.port.deliver(frame);
        return;
      }
    }
    this.counters.flooded++;
    const group = isGroup(frame);
    for (const port of this.#ports) {
      if (port === from) continue;
      if (!group && port.acceptsFlood && !port.acceptsFlood(frame)) continue;
      // Each port gets its own copy: a receiver may keep or change what it is handed.
      port.deliver(frame.slice());
    }
  }
}

interface PortState {
  name: string;
  deliver: (frame: Uint8Array) => void;
  acceptsFlood: ((frame: Uint8Array) => boolean) | undefined;
}
