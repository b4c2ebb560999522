// A cable between workers: a FrameLink over a MessagePort (or a Worker, or a worker's own scope), so a guest in its own
// worker can be one of the switch's ports. Each frame crosses as a copy whose buffer is transferred, not cloned.
import type { FrameLink } from "../vm/v86-machine.ts";

/** The part of a MessagePort, a Worker or a DedicatedWorkerGlobalScope the link uses. */
export interface FramePort {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  removeEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  /** A MessagePort delivers nothing to addEventListener listeners until started. */
  start?(): void;
}

/** The message a frame travels in; anything else on the port is left alone (a port may carry other messages too). */
interface FrameMessage {
  drydockFrame: Uint8Array;
}

function isFrameMessage(data: unknown): data is FrameMessage {
  return typeof data === "object" && data !== null && (data as FrameMessage).drydockFrame instanceof Uint8Array;
}

/**
 * One end of a cable that runs over `port`: what is sent comes out of the other end's `onFrame`.
 * @example
 * // In the switch's worker, for a guest in its own worker:
 * const cable = frameLinkOverPort(channel.port1);
 * const port = ethernet.attach({ name: "node2", deliver: (frame) => cable.send(frame) });
 * cable.onFrame((frame) => port.send(frame));
 * // In the guest's worker: patchLinks(machine.takeNetwork().card, frameLinkOverPort(channel.port2));
 */
export function frameLinkOverPort(port: FramePort): FrameLink {
  let started = false;
  return {
    send(frame) {
      const copy = frame.slice();
      port.postMessage({ drydockFrame: copy } satisfies FrameMessage, [copy.buffer as ArrayBuffer]);
    },
    onFrame(listener) {
      const onMessage = (event: { data: unknown }) => {
        if (isFrameMessage(event.data)) listener(event.data.drydockFrame);
      };
      port.addEventListener("message", onMessage);
      if (!started) {
        started = true;
        port.start?.();
      }
      return () => port.removeEventListener("message", onMessage);
    },
  };
}

/**
 * Joins two links back to back (a guest's card to a cable, a cable to another cable): each one's frames go into the
 * other. Returns the unplugging.
 * @example
 * const unplug = patchLinks(machine.takeNetwork().card, frameLinkOverPort(self));
 */
export function patchLinks(a: FrameLink, b: FrameLink): () => void {
  const offA = a.onFrame((frame) => b.send(frame));
  const offB = b.onFrame((frame) => a.send(frame));
  return () => {
    offA();
    offB();
  };
}
