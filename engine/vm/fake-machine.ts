// FakeMachine: a Machine without an emulator, for unit tests of what talks to the guest. The test plays the guest:
// it sees every send on the agent link (as the virtio console would deliver it) and answers with `fromGuest`.
import { Emitter } from "../events.ts";
import type { ByteChannel, Machine } from "./machine.ts";

export class FakeMachine implements Machine {
  readonly #serialOut = new Emitter<Uint8Array>();
  readonly #agentOut = new Emitter<Uint8Array>();
  readonly #crash = new Emitter<string>();
  readonly #agentClosed = new Emitter<void>();
  /** Every send the engine made on the agent link, one entry per virtio console send. */
  readonly agentSends: Uint8Array[] = [];
  /** Called for each send on the agent link, after it is recorded. */
  onAgentSend: ((bytes: Uint8Array) => void) | undefined;
  readonly serialInput: string[] = [];
  disposed = false;

  readonly serial: ByteChannel = {
    onData: (listener) => this.#serialOut.on(listener),
    write: (data) => {
      this.serialInput.push(typeof data === "string" ? data : new TextDecoder().decode(data));
    },
  };

  readonly agentLink: ByteChannel = {
    onData: (listener) => this.#agentOut.on(listener),
    write: (data) => {
      const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data.slice();
      this.agentSends.push(bytes);
      this.onAgentSend?.(bytes);
    },
  };

  /** Delivers bytes from the guest's agent to the engine. */
  fromGuest(bytes: Uint8Array): void {
    this.#agentOut.emit(bytes);
  }

  /** Prints on the guest's serial console. */
  print(text: string): void {
    this.#serialOut.emit(new TextEncoder().encode(text));
  }

  crash(reason: string): void {
    this.#crash.emit(reason);
  }

  /** The guest closes its end of the agent link (drydockd exits). */
  closeAgentLink(): void {
    this.#agentClosed.emit();
  }

  consoleTail(): string[] {
    return ["[fake guest console]"];
  }

  onCrash(listener: (reason: string) => void): () => void {
    return this.#crash.on(listener);
  }

  onAgentLinkClosed(listener: () => void): () => void {
    return this.#agentClosed.on(listener);
  }

  async saveState(): Promise<ArrayBuffer> {
    throw new Error("a FakeMachine has no state to save");
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}
