// A guest can fail under the engine: drydockd killed (its end of the agent link closes at once; busybox init restarts
// it, but what it ran for us is gone) or the kernel panicking. The agent client fails everything in flight at once with the guest's last words; this
// supervisor tells its listeners what happened, then (unless told to wait) boots a fresh guest from the saved state
// and opens a new container service on it. Images and volumes live outside the guest and are untouched; the failed
// guest's containers are kept (their records are in the engine's metadata store), the running ones as exited, and
// their writable layers, which were in its tmpfs, are made anew at their next start.
import type { ContainerService } from "../container-service.ts";
import type { Drydock } from "../drydock.ts";
import { EngineError } from "../errors.ts";
import { Emitter } from "../events.ts";

/** What went wrong with a guest, as a person would be told. */
export interface GuestFault {
  /** The agent's words, with the guest console's last lines where it had them. */
  message: string;
  /** When the engine noticed (ms since the epoch). */
  time: number;
}

export interface GuestSupervisorOptions {
  /** Boots a guest (from the saved state: about a fifth of a second). */
  boot: () => Promise<Drydock>;
  /** Opens the container service on a booted guest. */
  open: (drydock: Drydock) => ContainerService;
  /** Restore a fresh guest as soon as one fails (default), or wait for `restart()` (the page offers a button). */
  restore?: "auto" | "manual";
}

/**
 * The current guest and its containers, replaced by a fresh guest when it fails.
 * @example
 * const supervisor = await GuestSupervisor.start({ boot: bootDrydock, open: (d) => ContainerService.open(d, images) });
 * supervisor.onFault((fault) => console.error(`the guest failed: ${fault.message}`));
 * supervisor.onRestore(() => console.error("a fresh guest is running"));
 * await supervisor.containers.run("busybox", { cmd: ["true"] });
 */
export class GuestSupervisor {
  readonly #options: GuestSupervisorOptions;
  readonly #faults = new Emitter<GuestFault>();
  readonly #restores = new Emitter<ContainerService>();
  #drydock: Drydock;
  #containers: ContainerService;
  #fault: GuestFault | undefined;
  #restoring: Promise<ContainerService> | undefined;
  #unwatch: () => void = () => {};
  #disposed = false;

  private constructor(options: GuestSupervisorOptions, drydock: Drydock, containers: ContainerService) {
    this.#options = options;
    this.#drydock = drydock;
    this.#containers = containers;
    this.#watch(drydock);
  }

  /**
   * Boots the first guest and watches it.
   * @example
   * const supervisor = await GuestSupervisor.start({ boot, open });
   */
  static async start(options: GuestSupervisorOptions): Promise<GuestSupervisor> {
    const drydock = await options.boot();
    return new GuestSupervisor(options, drydock, options.open(drydock));
  }

  /** The container service of the current guest (of the failed one until a fresh guest is up). */
  get containers(): ContainerService {
    return this.#containers;
  }

  get drydock(): Drydock {
    return this.#drydock;
  }

  /** The failure of the current guest, until a fresh one replaces it. */
  get fault(): GuestFault | undefined {
    return this.#fault;
  }

  /** Calls `listener` when the current guest fails; returns the unsubscriber. */
  onFault(listener: (fault: GuestFault) => void): () => void {
    return this.#faults.on(listener);
  }

  /** Calls `listener` with the new container service once a fresh guest runs; returns the unsubscriber. */
  onRestore(listener: (containers: ContainerService) => void): () => void {
    return this.#restores.on(listener);
  }

  #watch(drydock: Drydock): void {
    this.#unwatch = drydock.agent.onFailure((error) => {
      if (this.#disposed || drydock !== this.#drydock) return;
      this.#fault = { message: error.message, time: Date.now() };
      this.#faults.emit(this.#fault);
      if ((this.#options.restore ?? "auto") === "auto") void this.restart().catch(() => {});
    });
  }

  /**
   * Replaces the guest with a fresh one (the failed one, or a working one on request): its running containers end
   * (kept as exited), images and volumes stay. Concurrent calls share one restore.
   * @example
   * await supervisor.restart();
   */
  restart(): Promise<ContainerService> {
    if (this.#disposed) return Promise.reject(new EngineError("unavailable", "the engine was shut down"));
    this.#restoring ??= (async () => {
      const old = this.#drydock;
      const oldContainers = this.#containers;
      this.#unwatch();
      // No restart policy acts on the old guest; its containers end with it, and their records are written before
      // the new service reads them (and decides what the policies bring back).
      await oldContainers.close().catch(() => {});
      await old.dispose().catch(() => {});
      await oldContainers.saved().catch(() => {});
      const drydock = await this.#options.boot();
      if (this.#disposed) {
        await drydock.dispose();
        throw new EngineError("unavailable", "the engine was shut down");
      }
      this.#drydock = drydock;
      this.#containers = this.#options.open(drydock);
      this.#fault = undefined;
      this.#watch(drydock);
      this.#restores.emit(this.#containers);
      return this.#containers;
    })().finally(() => {
      this.#restoring = undefined;
    });
    return this.#restoring;
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    this.#unwatch();
    await this.#restoring?.catch(() => {});
    await this.#drydock.dispose();
  }
}
