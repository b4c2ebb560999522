import { MessageChannel } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import type { FrameLink } from "../vm/v86-machine.ts";
import { type FramePort, frameLinkOverPort, patchLinks } from "./message-link.ts";
import { EthernetSwitch } from "./switch.ts";

/** An Ethernet frame from `src` to `dst` (last bytes of 02:00:00:00:00:xx) with a payload byte. */
function frame(dst: number, src: number, payload: number): Uint8Array {
  const bytes = new Uint8Array(60);
  bytes.set([2, 0, 0, 0, 0, dst, 2, 0, 0, 0, 0, src, 0x08, 0x00, payload]);
  return bytes;
}

/** A fake guest card: records what it receives, and can transmit. */
function card() {
  const received: Uint8Array[] = [];
  const listeners = new Set<(frame: Uint8Array) => void>();
  const link: FrameLink = {
    send: (frame) => received.push(frame),
    onFrame: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const transmit = (frame: Uint8Array) => {
    for (const listener of listeners) listener(frame);
  };
  return { link, received, transmit };
}

describe("a cable between workers", () => {
  it("carries frames both ways between a switch and a card behind a MessagePort, copying the sender's bytes", async () => {
    const { port1, port2 } = new MessageChannel();
    const ethernet = new EthernetSwitch();
    const cable = frameLinkOverPort(port1 as unknown as FramePort);
    const remote = ethernet.attach({ name: "node2", deliver: (bytes) => cable.send(bytes) });
    cable.onFrame((bytes) => remote.send(bytes));
    const local = card();
    const localPort = ethernet.attach({ name: "node1", deliver: (bytes) => local.link.send(bytes) });
    const guest = card();
    const unplug = patchLinks(guest.link, frameLinkOverPort(port2 as unknown as FramePort));

    const sent = frame(1, 2, 0xaa);
    guest.transmit(sent);
    await expect.poll(() => local.received.map((bytes) => bytes[14])).toEqual([0xaa]);
    expect(sent.byteLength).toBe(60); // the sender's frame is not detached by the transfer
    expect(ethernet.table().get("02:00:00:00:00:02")).toBe("node2");

    localPort.send(frame(2, 1, 0xbb));
    await expect.poll(() => guest.received.map((bytes) => bytes[14])).toEqual([0xbb]);

    // Unplugged: the cable still carries the next frame (another listener sees it), the card no longer gets it.
    unplug();
    const stillOnTheCable: number[] = [];
    frameLinkOverPort(port2 as unknown as FramePort).onFrame((bytes) => stillOnTheCable.push(bytes[14]!));
    localPort.send(frame(2, 1, 0xcc));
    await expect.poll(() => stillOnTheCable).toEqual([0xcc]);
    expect(guest.received).toHaveLength(1);
    port1.close();
    port2.close();
  });

  it("ignores other messages on the same port", async () => {
    const { port1, port2 } = new MessageChannel();
    const got: Uint8Array[] = [];
    frameLinkOverPort(port2 as unknown as FramePort).onFrame((bytes) => got.push(bytes));
    port1.postMessage({ hello: "not a frame" });
    port1.postMessage({ drydockFrame: "nor this" });
    frameLinkOverPort(port1 as unknown as FramePort).send(frame(1, 2, 7));
    await expect.poll(() => got.map((bytes) => bytes[14])).toEqual([7]);
    port1.close();
    port2.close();
  });
});
