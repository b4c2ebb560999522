// A Machine is one running guest. The engine talks to it through byte channels; V86Machine is the real one.

/** Bytes in, bytes out: a serial line or a virtio console port. */
export interface ByteChannel {
  /** Subscribes to bytes from the guest; returns the function that unsubscribes. */
  onData(listener: (bytes: Uint8Array) => void): () => void;
  /** Sends bytes to the guest. */
  write(bytes: Uint8Array | string): void;
}

export interface Machine {
  /** The first serial port (ttyS0): the kernel console and, until the agent runs, a shell. */
  readonly serial: ByteChannel;
  /** Port 1 of the virtio console (`/dev/vport0p1`, a plain port), where drydockd speaks the agent protocol. */
  readonly agentLink: ByteChannel;
  /** The last lines the guest printed on its console, for error messages. */
  consoleTail(lines?: number): string[];
  /** Saves the whole machine (memory and devices) so that it can be restored later. */
  saveState(): Promise<ArrayBuffer>;
  /** Subscribes to the machine stopping on its own (a kernel panic, a triple fault); returns the unsubscriber. */
  onCrash(listener: (reason: string) => void): () => void;
  /**
   * Subscribes to the guest closing its end of the agent link (the last file of the port: drydockd exited); returns
   * the unsubscriber.
   */
  onAgentLinkClosed(listener: () => void): () => void;
  /** Stops the emulator and frees what it holds. Safe to call twice. */
  dispose(): Promise<void>;
}
