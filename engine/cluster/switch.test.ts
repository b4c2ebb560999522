import { describe, expect, it } from "vitest";
import { EthernetSwitch, formatMac, parseMac } from "./switch.ts";

const A = "02:00:00:00:00:0a";
const B = "02:00:00:00:00:0b";
const C = "02:00:00:00:00:0c";
const BROADCAST = "ff:ff:ff:ff:ff:ff";

function frame(dest: string, src: string, payload = "hi"): Uint8Array {
  const bytes = new Uint8Array(14 + payload.length);
  bytes.set(parseMac(dest), 0);
  bytes.set(parseMac(src), 6);
  bytes[12] = 0x08; // IPv4
  bytes.set(new TextEncoder().encode(payload), 14);
  return bytes;
}

function rig(options: { now?: () => number; ageingMs?: number } = {}) {
  const ethernet = new EthernetSwitch(options);
  const got: Record<string, string[]> = { p1: [], p2: [], p3: [] };
  const port = (name: string) =>
    ethernet.attach({ name, deliver: (bytes) => got[name]!.push(`${formatMac(bytes, 6)}>${formatMac(bytes, 0)}`) });
  return { ethernet, got, p1: port("p1"), p2: port("p2"), p3: port("p3") };
}

describe("EthernetSwitch", () => {
  it("floods a frame for an unknown MAC to every other port, then forwards to the learned port only", () => {
    const { ethernet, got, p1, p2 } = rig();
    p1.send(frame(B, A));
    expect(got).toEqual({ p1: [], p2: [`${A}>${B}`], p3: [`${A}>${B}`] });
    // B answers: A was learned on p1, so only p1 gets it.
    p2.send(frame(A, B));
    expect(got.p1).toEqual([`${B}>${A}`]);
    expect(got.p3).toEqual([`${A}>${B}`]);
    // Now B is known too: A's next frame goes to p2 alone.
    p1.send(frame(B, A));
    expect(got.p2).toHaveLength(2);
    expect(got.p3).toHaveLength(1);
    expect(ethernet.table()).toEqual(
      new Map([
        [A, "p1"],
        [B, "p2"],
      ]),
    );
    expect(ethernet.counters).toEqual({ forwarded: 2, flooded: 1, dropped: 0 });
  });

  it("floods broadcast and multicast even to known ports, never back to the sender", () => {
    const { got, p1, p2, p3 } = rig();
    p2.send(frame(A, B));
    p3.send(frame(A, C));
    p1.send(frame(BROADCAST, A));
    p1.send(frame("01:00:5e:00:00:01", A));
    expect(got.p1).toEqual([`${B}>${A}`, `${C}>${A}`]);
    // B and C are known, yet the group frames reach them (A was still unknown when B and C first spoke: flooded).
    expect(got.p2).toEqual([`${C}>${A}`, `${A}>${BROADCAST}`, `${A}>01:00:5e:00:00:01`]);
    expect(got.p3).toEqual([`${B}>${A}`, `${A}>${BROADCAST}`, `${A}>01:00:5e:00:00:01`]);
  });

  it("relearns a MAC that moved to another port", () => {
    const { ethernet, got, p1, p2, p3 } = rig();
    p1.send(frame(BROADCAST, A));
    p3.send(frame(A, C));
    expect(got.p1).toHaveLength(1);
    p2.send(frame(BROADCAST, A)); // A is now behind p2
    p3.send(frame(A, C));
    expect(got.p2).toEqual([`${A}>${BROADCAST}`, `${C}>${A}`]);
    expect(got.p1).toEqual([`${C}>${A}`, `${A}>${BROADCAST}`]);
    expect(ethernet.table().get(A)).toBe("p2");
  });

  it("ages out entries, so a silent MAC is flooded again", () => {
    let now = 0;
    const { ethernet, got, p1, p2 } = rig({ now: () => now, ageingMs: 1000 });
    p1.send(frame(BROADCAST, A));
    now = 999;
    p2.send(frame(A, B));
    expect(got.p3).toHaveLength(1); // only the broadcast
    now = 2500; // A silent for 2.5 s, B for 1.5 s
    expect(ethernet.table().size).toBe(0);
    p2.send(frame(A, B));
    expect(got.p3).toHaveLength(2); // flooded again
    expect(got.p1).toHaveLength(2);
  });

  it("drops runts and frames for a MAC behind the port they came in on", () => {
    const { ethernet, got, p1 } = rig();
    p1.send(new Uint8Array(10));
    p1.send(frame(BROADCAST, A));
    p1.send(frame(A, B)); // B on p1 too now (a bridge behind p1): A is local
    expect(got.p2).toHaveLength(1);
    expect(ethernet.counters.dropped).toBe(2);
  });

  it("a detached port gets nothing more and its MACs are forgotten", () => {
    const { ethernet, got, p1, p2 } = rig();
    p2.send(frame(BROADCAST, B));
    p2.detach();
    expect(ethernet.table().has(B)).toBe(false);
    p1.send(frame(B, A));
    expect(got.p2).toHaveLength(0);
    expect(got.p3).toHaveLength(2);
    p2.send(frame(BROADCAST, B));
    expect(got.p1).toHaveLength(1);
  });

  it("an uplink that takes only its own unicast is left out of unknown-unicast floods, not broadcasts", () => {
    const ethernet = new EthernetSwitch();
    const router = "52:54:00:01:02:03";
    const uplink: string[] = [];
    const nodes: string[] = [];
    ethernet.attach({
      name: "uplink",
      deliver: (bytes) => uplink.push(formatMac(bytes, 0)),
      acceptsFlood: (bytes) => formatMac(bytes, 0) === router,
    });
    const node = ethernet.attach({ name: "node1", deliver: (bytes) => nodes.push(formatMac(bytes, 0)) });
    ethernet.attach({ name: "node2", deliver: (bytes) => nodes.push(formatMac(bytes, 0)) });
    node.send(frame(B, A));
    node.send(frame(router, A));
    node.send(frame(BROADCAST, A));
    expect(uplink).toEqual([router, BROADCAST]);
    expect(nodes).toEqual([B, router, BROADCAST]);
  });

  it("refuses two ports of one name and bad MAC addresses, saying what is wrong", () => {
    const ethernet = new EthernetSwitch();
    ethernet.attach({ name: "node1", deliver: () => {} });
    expect(() => ethernet.attach({ name: "node1", deliver: () => {} })).toThrow(
      "the switch already has a port named node1",
    );
    expect(() => parseMac("02:00:00:00:00")).toThrow('"02:00:00:00:00" is not a MAC address');
    expect(() => new EthernetSwitch({ ageingMs: 0 })).toThrow("ageing time must be a positive number");
  });
});
