// The overlay snapshotter, in containerd's vocabulary: an active snapshot (from `prepare`) is a writable upper dir
// on guest tmpfs over the read-only chain of its parent; `commit` freezes it under a name so it can be a parent in
// turn; a `view` is a read-only stack. Image layers are committed snapshots named by chain id whose directories
// live on the 9P layer share. The snapshotter only describes mounts; whoever mounts them traces the mount.
import type { AgentClient } from "../agent/index.ts";
import { EngineError, isEngineError } from "../errors.ts";
import type { Tracer } from "../trace/index.ts";

/** A mount to perform, as containerd describes it: `mount -t <type> -o <options> <source> <target>`. */
export interface Mount {
  type: string;
  source: string;
  options: string[];
}

export type SnapshotKind = "active" | "view" | "committed";

export interface SnapshotInfo {
  /** The key of an active snapshot or view, or the name of a committed one (a chain id for image layers). */
  name: string;
  parent?: string;
  kind: SnapshotKind;
  /** Milliseconds since the epoch. */
  created: number;
}

/** Where image layers are in the guest: one directory per layer, named by its chain id's hex. */
export interface LayerShare {
  readonly root: string;
  /** Makes the layers visible in the guest (mounts the share the first time). */
  ready(): Promise<void>;
}

/** The agent requests the snapshotter needs; a fake in unit tests. */
export type SnapshotAgent = Pick<AgentClient, "mkdir" | "remove">;

interface Snapshot {
  kind: SnapshotKind;
  parent?: string;
  created: number;
  /** The snapshot's own directory: `<root>/<n>` for snapshots made here, the share's layer dir for image layers. */
  dir: string;
  /** True when `dir` is a layer on the share (never deleted from here). */
  shared: boolean;
}

export interface OverlaySnapshotterOptions {
  agent: SnapshotAgent;
  layers: LayerShare;
  tracer?: Tracer;
  /** A tmpfs directory for upper and work dirs (overlay's upper dir must not be on 9P). */
  root?: string;
  now?: () => number;
}

const hexOf = (chainId: string) => chainId.replace(/^sha256:/, "");

/**
 * The overlay snapshotter.
 * @example
 * snapshotter.registerLayers(image.layers.map((layer) => layer.chainId));
 * const mounts = await snapshotter.prepare("3f2a", image.layers.at(-1)!.chainId);
 * // mounts[0]: { type: "overlay", source: "overlay", options: ["lowerdir=…", "upperdir=…", "workdir=…"] }
 */
export class OverlaySnapshotter {
  readonly root: string;
  readonly #agent: SnapshotAgent;
  readonly #layers: LayerShare;
  readonly #tracer: Tracer | undefined;
  readonly #now: () => number;
  readonly #snapshots = new Map<string, Snapshot>();
  #nextId = 1;

  constructor(options: OverlaySnapshotterOptions) {
    this.#agent = options.agent;
    this.#layers = options.layers;
    this.#tracer = options.tracer;
    this.root = options.root ?? "/run/drydock/snapshots";
    this.#now = options.now ?? Date.now;
  }

  /**
   * Makes an image's layers (base first, by chain id) committed snapshots, each the parent of the next. They are
   * already unpacked on the layer share, so nothing happens in the guest.
   * @example
   * snapshotter.registerLayers(["sha256:aa…", "sha256:bb…"]);
   */
  registerLayers(chainIds: readonly string[]): void {
    let parent: string | undefined;
    for (const chainId of chainIds) {
      const existing = this.#snapshots.get(chainId);
      if (existing && existing.parent !== parent) {
        throw new EngineError("conflict", `layer ${chainId} is already registered with another parent`);
      }
      if (!existing) {
        const snapshot: Snapshot = {
          kind: "committed",
          created: this.#now(),
          dir: `${this.#layers.root}/${hexOf(chainId)}`,
          shared: true,
        };
        if (parent) snapshot.parent = parent;
        this.#snapshots.set(chainId, snapshot);
      }
      parent = chainId;
    }
  }

  /**
   * A new writable snapshot over `parent` (a committed snapshot), and the mounts that assemble it.
   * @example
   * const [overlay] = await snapshotter.prepare("3f2a", chainId);
   */
  async prepare(key: string, parent?: string): Promise<Mount[]> {
    return this.#create("active", key, parent);
  }

  /**
   * A read-only view of `parent`: its mounts, without an upper dir.
   * @example
   * const mounts = await snapshotter.view("inspect-busybox", chainId);
   */
  async view(key: string, parent: string): Promise<Mount[]> {
    return this.#create("view", key, parent);
  }

  async #create(kind: "active" | "view", key: string, parent: string | undefined): Promise<Mount[]> {
    if (!key) throw new EngineError("invalidArgument", "a snapshot needs a key");
    if (this.#snapshots.has(key)) throw new EngineError("alreadyExists", `snapshot ${key} already exists`);
    if (parent !== undefined) {
      const below = this.#snapshots.get(parent);
      if (!below) throw new EngineError("notFound", `parent snapshot ${parent} does not exist`);
      if (below.kind !== "committed") {
        throw new EngineError("invalidArgument", `parent snapshot ${parent} is ${below.kind}, not committed`);
      }
    } else if (kind === "view") {
      throw new EngineError("invalidArgument", "a view needs a parent");
    }
    const snapshot: Snapshot = { kind, created: this.#now(), dir: `${this.root}/${this.#nextId++}`, shared: false };
    if (parent !== undefined) snapshot.parent = parent;
    // Reserve the key before awaiting, so two prepares of one key cannot both succeed.
    this.#snapshots.set(key, snapshot);
    try {
      // Sent together: drydockd answers requests in the order they arrive, so one round trip for both.
      const requests: Promise<void>[] = [];
      if (kind === "active")
        requests.push(this.#mkdir(`${snapshot.dir}/fs`, key), this.#mkdir(`${snapshot.dir}/work`, key));
      if (this.#chain(key).some((s) => s.shared)) requests.push(this.#layers.ready());
      await Promise.all(requests);
    } catch (error) {
      this.#snapshots.delete(key);
      await this.#agent.remove(snapshot.dir, { recursive: true }).catch(() => {});
      throw error;
    }
    return this.mounts(key);
  }

  async #mkdir(path: string, subject: string): Promise<void> {
    this.#tracer?.emit({ op: "mkdir", path }, subject);
    await this.#agent.mkdir(path, { parents: true });
  }

  /** The snapshot and its ancestors, nearest first. */
  #chain(key: string): Snapshot[] {
    const chain: Snapshot[] = [];
    for (let name: string | undefined = key; name !== undefined; ) {
      const snapshot = this.#snapshots.get(name);
      if (!snapshot) throw new EngineError("notFound", `snapshot ${name} does not exist`);
      chain.push(snapshot);
      name = snapshot.parent;
    }
    return chain;
  }

  #lowerDir(snapshot: Snapshot): string {
    return snapshot.shared ? snapshot.dir : `${snapshot.dir}/fs`;
  }

  /**
   * The mounts that assemble an active snapshot or view (overlay with lowerdir top first; a bind mount when there is
   * a single directory).
   * @example
   * for (const mount of snapshotter.mounts("3f2a")) console.log(mount.type, mount.options.join(","));
   */
  mounts(key: string): Mount[] {
    const [self, ...ancestors] = this.#chain(key);
    if (!self || self.kind === "committed") {
      throw new EngineError("invalidArgument", `snapshot ${key} is committed; prepare or view a child to mount it`);
    }
    const lowers = ancestors.map((s) => this.#lowerDir(s));
    if (self.kind === "view") {
      if (lowers.length === 1) return [{ type: "bind", source: lowers[0]!, options: ["ro", "rbind"] }];
      return [{ type: "overlay", source: "overlay", options: [`lowerdir=${lowers.join(":")}`] }];
    }
    if (lowers.length === 0) return [{ type: "bind", source: `${self.dir}/fs`, options: ["rw", "rbind"] }];
    return [
      {
        type: "overlay",
        source: "overlay",
        options: [`lowerdir=${lowers.join(":")}`, `upperdir=${self.dir}/fs`, `workdir=${self.dir}/work`],
      },
    ];
  }

  /**
   * Freezes an active snapshot (unmount it first) under `name`: its upper dir becomes a read-only layer that new
   * snapshots can stack on, the way `docker commit` and each build step make a layer.
   * @example
   * await snapshotter.commit("step-1", "build-1");
   * await snapshotter.prepare("build-2", "step-1");
   */
  async commit(name: string, key: string): Promise<void> {
    const snapshot = this.#snapshots.get(key);
    if (!snapshot) throw new EngineError("notFound", `snapshot ${key} does not exist`);
    if (snapshot.kind !== "active") throw new EngineError("invalidArgument", `snapshot ${key} is ${snapshot.kind}`);
    if (this.#snapshots.has(name)) throw new EngineError("alreadyExists", `snapshot ${name} already exists`);
    // Overlay's work dir is scratch space for the mounted upper dir; a committed layer has no use for it.
    const work = `${snapshot.dir}/work`;
    this.#tracer?.emit({ op: "rm", path: work, recursive: true }, name);
    await this.#agent.remove(work, { recursive: true });
    this.#snapshots.delete(key);
    this.#snapshots.set(name, { ...snapshot, kind: "committed" });
  }

  /**
   * Removes a snapshot that nothing stacks on, with its directories (layers on the share are only forgotten).
   * @example
   * await snapshotter.remove("3f2a");
   */
  async remove(key: string): Promise<void> {
    const snapshot = this.#snapshots.get(key);
    if (!snapshot) throw new EngineError("notFound", `snapshot ${key} does not exist`);
    for (const [name, other] of this.#snapshots) {
      if (other.parent === key) throw new EngineError("conflict", `snapshot ${key} is the parent of ${name}`);
    }
    this.#snapshots.delete(key);
    if (snapshot.shared || snapshot.kind === "view") return;
    this.#tracer?.emit({ op: "rm", path: snapshot.dir, recursive: true }, key);
    try {
      await this.#agent.remove(snapshot.dir, { recursive: true });
    } catch (error) {
      if (!isEngineError(error, "notFound")) throw error;
    }
  }

  /** Where the image layers are in the guest (the 9P layer share). */
  get layersRoot(): string {
    return this.#layers.root;
  }

  /** What a snapshot is. */
  stat(key: string): SnapshotInfo {
    const snapshot = this.#snapshots.get(key);
    if (!snapshot) throw new EngineError("notFound", `snapshot ${key} does not exist`);
    return this.#info(key, snapshot);
  }

  /** The guest directory holding a snapshot's own files (its upper dir while active). */
  upperDir(key: string): string {
    const snapshot = this.#snapshots.get(key);
    if (!snapshot) throw new EngineError("notFound", `snapshot ${key} does not exist`);
    return this.#lowerDir(snapshot);
  }

  /** Every snapshot. */
  list(): SnapshotInfo[] {
    return [...this.#snapshots].map(([name, snapshot]) => this.#info(name, snapshot));
  }

  #info(name: string, snapshot: Snapshot): SnapshotInfo {
    const info: SnapshotInfo = { name, kind: snapshot.kind, created: snapshot.created };
    if (snapshot.parent !== undefined) info.parent = snapshot.parent;
    return info;
  }
}
