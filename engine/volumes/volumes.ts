// Volumes: named directories that outlive the containers using them, kept by the `local` driver under one root in
// the guest (`<root>/<name>/_data`, as dockerd keeps them under /var/lib/docker/volumes). The store knows which
// containers use each volume, so one in use cannot be removed, and it turns a container's mount requests into the
// guest paths the runtime binds (making named volumes on first use and anonymous ones for `-v /path` and an image's
// VOLUME).
import type { AgentClient } from "../agent/index.ts";
import { EngineError } from "../errors.ts";
import type { Tracer } from "../trace/index.ts";
import { LocalDriver, TmpfsDriver, type VolumeDriver } from "./drivers.ts";
import { checkVolumeName, type MountRequest, type MountType } from "./specs.ts";
import type { VolumeTree } from "./tree.ts";

export const VOLUMES_ROOT = "/var/lib/drydock/volumes";

export interface Volume {
  name: string;
  driver: string;
  /** Where its files are in the guest. */
  mountpoint: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** What its driver says of it (inspect's Status); local volumes have none. */
  status?: Record<string, string>;
  /** Made for one container (`-v /path`, an image's VOLUME); `docker rm -v` and `--rm` remove it with it. */
  anonymous: boolean;
}

/** A mount of a container, resolved: what to bind (or mount) where. */
export interface ContainerMount {
  type: MountType;
  /** The volume's name (volumes only). */
  name?: string;
  /** The volume's driver (volumes only). */
  driver?: string;
  /** The guest path bound into the container: a volume's mountpoint or a bind's directory; "" for tmpfs. */
  source: string;
  destination: string;
  readonly: boolean;
  /** Fill the volume from the image's files at the destination when it is empty (Docker's copy-up). */
  copyUp: boolean;
  /** A bind given with -v: make the source directory when missing. */
  createSource: boolean;
  /** tmpfs data options (`size=…,mode=…`). */
  tmpfsOptions?: string;
  /** A bind of a host directory (Node's `--allow-bind`): its path on the host; `source` is where the share shows it. */
  hostPath?: string;
  /** A volume of a driver that keeps no records (tmpfs, image): its options, to make it again in a later engine. */
  driverOptions?: Record<string, string>;
  request: MountRequest;
}

/**
 * What a host-bind resolver says of a bind's source: a host directory it offers (its place under the share's `binds`
 * directory), a refusal (a path of the host it does not offer; unless `final`, a path the guest has binds the
 * guest's), or undefined (not a path of the host: the guest's).
 */
export type HostBindAnswer = { hostPath: string; share: string } | { refused: string; final?: boolean } | undefined;

/** Decides which bind sources are host directories (engine/node/host-binds.ts; the page has none). */
export interface HostBindResolver {
  /** `create`: a missing source is made (a bind given with -v), as dockerd makes it. */
  resolve(source: string, create: boolean): Promise<HostBindAnswer>;
}

export type VolumeAgent = Pick<AgentClient, "mkdir" | "remove" | "run">;

/** Where volume data lives when it is kept outside the guest (see engine/fs9p's share). */
export interface VolumeStoreStorage {
  /** The volumes' files, as the 9P share serves them under VOLUMES_ROOT. */
  tree: VolumeTree;
  /** Makes VOLUMES_ROOT in the guest the share's volumes directory (mounted once per guest). */
  ready(): Promise<void>;
  /** Host directories the engine may bind (the Node daemon's --allow-bind), and where the guest sees the share's binds. */
  hostBinds?: { resolver: HostBindResolver; root: string };
}

export interface CreateVolumeOptions {
  name?: string;
  driver?: string;
  labels?: Record<string, string>;
  driverOpts?: Record<string, string>;
}

function anonymousName(): string {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The volumes of one engine.
 * @example
 * const volumes = new VolumeStore(drydock.agent);
 * await volumes.create({ name: "data" }); // mkdir -p /var/lib/drydock/volumes/data/_data
 */
export class VolumeStore {
  readonly #volumes = new Map<string, Volume>();
  /** Container id → the volumes it uses. */
  readonly #users = new Map<string, Set<string>>();
  readonly #drivers = new Map<string, VolumeDriver>();

  constructor(
    readonly agent: VolumeAgent,
    readonly tracer?: Tracer,
    readonly root = VOLUMES_ROOT,
    /** Without it, volumes are directories of the guest's tmpfs and go with the guest. */
    readonly storage?: VolumeStoreStorage,
  ) {
    this.#drivers.set("local", new LocalDriver(agent, root, tracer, storage));
    // Outside the local root, which may be the storage share: a tmpfs volume is never kept there.
    this.#drivers.set("tmpfs", new TmpfsDriver(agent, `${root}-tmpfs`, tracer));
    // The volumes a previous engine (page, daemon) left with a driver that keeps them are there again.
    for (const [driver, impl] of this.#drivers) {
      for (const found of impl.list()) {
        this.#volumes.set(found.name, {
          name: found.name,
          driver,
          mountpoint: found.mountpoint,
          createdAt: found.createdAt ?? Date.now(),
          labels: { ...(found.labels ?? {}) },
          options: { ...found.options },
          ...(found.status ? { status: found.status } : {}),
          anonymous: found.anonymous ?? false,
        });
      }
    }
  }

  /** Adds a driver (one that needs more of the engine than the agent, like `image`). */
  addDriver(driver: VolumeDriver): void {
    if (this.#drivers.has(driver.name)) throw new EngineError("alreadyExists", `volume driver ${driver.name} exists`);
    this.#drivers.set(driver.name, driver);
  }

  /** The volume drivers this engine has (`docker info`'s Plugins.Volume). */
  drivers(): string[] {
    return [...this.#drivers.keys()];
  }

  /** A driver by name; dockerd's "plugin not found" otherwise. */
  driver(name: string, volumeName = ""): VolumeDriver {
    const driver = this.#drivers.get(name);
    if (!driver)
      throw new EngineError(
        "notFound",
        `create ${volumeName}: error looking up volume plugin ${name}: plugin "${name}" not found (this engine has ${this.drivers().join(", ")})`,
      );
    return driver;
  }

  /** `docker volume create`: a new volume, or the one of that name if it exists (as dockerd answers). */
  async create(options: CreateVolumeOptions = {}): Promise<Volume> {
    const driverName = options.driver || "local";
    const driver = this.driver(driverName, options.name ?? "");
    const opts = options.driverOpts ?? {};
    driver.checkOptions(opts);
    const anonymous = !options.name;
    const name = options.name || anonymousName();
    checkVolumeName(name);
    const existing = this.#volumes.get(name);
    if (existing) {
      if (options.driver && existing.driver !== driverName)
        throw new EngineError(
          "conflict",
          `create ${name}: a volume named ${name} already exists with the ${existing.driver} driver; remove it first to make it with ${driverName}`,
        );
      return existing;
    }
    const createdAt = Date.now();
    const labels = { ...(options.labels ?? {}) };
    const made = await driver.create({ name, options: { ...opts }, createdAt, labels, anonymous });
    const volume: Volume = {
      name,
      driver: driverName,
      mountpoint: made.mountpoint,
      createdAt,
      labels,
      options: made.options,
      ...(made.status ? { status: made.status } : {}),
      anonymous,
    };
    this.#volumes.set(name, volume);
    return volume;
  }

  /** A volume by name; notFound with dockerd's message otherwise. */
  get(name: string): Volume {
    const volume = this.#volumes.get(name);
    if (!volume) throw new EngineError("notFound", `get ${name}: no such volume`);
    return volume;
  }

  list(): Volume[] {
    return [...this.#volumes.values()];
  }

  /** The ids of the containers that use a volume. */
  users(name: string): string[] {
    return [...this.#users].filter(([, names]) => names.has(name)).map(([id]) => id);
  }

  /** `docker volume rm`: refused while a container uses it (dockerd's conflict, naming the containers). */
  async remove(name: string, options: { force?: boolean } = {}): Promise<void> {
    const volume = this.#volumes.get(name);
    if (!volume) {
      if (options.force) return;
      throw new EngineError("notFound", `get ${name}: no such volume`);
    }
    const users = this.users(name);
    if (users.length) throw new EngineError("conflict", `remove ${name}: volume is in use - [${users.join(", ")}]`);
    await this.driver(volume.driver, name).remove(name);
    this.#volumes.delete(name);
  }

  /**
   * Writes what containers wrote to volumes through to the engine's storage: the guest caches 9P writes in its page
   * cache (the share is mounted cache=loose for the layers' sake), so `sync` pushes them out, then the trees are saved.
   */
  async sync(): Promise<void> {
    if (!this.storage) return;
    this.tracer?.emit({ op: "exec", argv: ["sync"] });
    await this.agent.run(["/bin/busybox", "sync"]);
    await this.storage.tree.save();
  }

  /** Bytes a volume's files take (`du -sk`), for prune and `docker system df`. */
  async size(name: string): Promise<number> {
    const volume = this.get(name);
    return this.driver(volume.driver, name).size(name);
  }

  /**
   * `docker volume prune`: removes the volumes no container uses; anonymous ones only unless `all` (API 1.42+).
   * `keep` filters further (dockerd's label and name filters).
   */
  async prune(options: { all?: boolean; keep?: (volume: Volume) => boolean } = {}) {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const volume of this.list()) {
      if (this.users(volume.name).length) continue;
      if (!options.all && !volume.anonymous) continue;
      if (options.keep?.(volume)) continue;
      reclaimed += await this.size(volume.name).catch(() => 0);
      await this.remove(volume.name);
      deleted.push(volume.name);
    }
    return { deleted, reclaimed };
  }

  /**
   * A container's mount requests as guest paths: named volumes are made on first use, an empty name makes an
   * anonymous volume, and the container is recorded as using each (until `detach`).
   */
  async attach(containerId: string, requests: readonly MountRequest[]): Promise<ContainerMount[]> {
    const used = new Set<string>();
    this.#users.set(containerId, used);
    if (requests.some((request) => request.type === "volume")) await this.storage?.ready();
    try {
      const mounts: ContainerMount[] = [];
      for (const request of requests) {
        const mount: ContainerMount = {
          type: request.type,
          source: request.source,
          destination: request.target,
          readonly: request.readonly,
          copyUp: false,
          createSource: request.createSource,
          request,
        };
        if (request.type === "volume") {
          const volume = this.#volumes.get(request.source) ?? (await this.create({ name: request.source }));
          used.add(volume.name);
          mount.name = volume.name;
          mount.driver = volume.driver;
          mount.source = await this.driver(volume.driver, volume.name).mount(volume.name, containerId);
          mount.copyUp = !request.noCopy;
          if (volume.driver !== "local") mount.driverOptions = { ...volume.options };
        } else if (request.type === "bind") {
          await this.#resolveBind(mount, request.source, request.createSource);
        } else if (request.type === "tmpfs") {
          const options = [
            request.tmpfsSize !== undefined ? `size=${request.tmpfsSize}` : "",
            request.tmpfsMode !== undefined ? `mode=${request.tmpfsMode.toString(8)}` : "",
          ].filter(Boolean);
          mount.tmpfsOptions = options.join(",");
        }
        mounts.push(mount);
      }
      // Parents before children (/data before /data/logs), as dockerd sorts them.
      return mounts.sort((a, b) => a.destination.split("/").length - b.destination.split("/").length);
    } catch (error) {
      await this.detach(containerId, { removeAnonymous: true }).catch(() => {});
      throw error;
    }
  }

  /**
   * A bind's source as the guest reaches it: a host directory the engine offers (through the share), or the guest's
   * own path; a path of the host it does not offer is refused (naming --allow-bind).
   */
  async #resolveBind(mount: ContainerMount, source: string, create: boolean): Promise<void> {
    const hostBinds = this.storage?.hostBinds;
    if (!hostBinds) return;
    const answer = await hostBinds.resolver.resolve(source, create);
    if (!answer) return;
    if ("refused" in answer) {
      const inGuest = !answer.final && (await this.agent.run(["/bin/busybox", "test", "-e", source])).code === 0;
      if (inGuest) return;
      throw new EngineError("invalidArgument", answer.refused);
    }
    await this.storage?.ready();
    mount.hostPath = answer.hostPath;
    mount.source = `${hostBinds.root}/${answer.share}`;
    mount.createSource = false;
  }

  /**
   * The mounts of a container about to start, made ready in this engine: a volume of a driver that keeps no records
   * (tmpfs, image), gone with the engine that made it, is made again with its driver and options (empty for tmpfs, as
   * after a reboot); host binds are resolved again (the daemon may have been started since with other --allow-bind
   * directories: one no longer offered is refused).
   */
  async prepareStart(containerId: string, mounts: readonly ContainerMount[]): Promise<void> {
    for (const mount of mounts) {
      if (mount.type !== "volume" || !mount.name) continue;
      if (!this.#volumes.has(mount.name)) {
        await this.create({
          name: mount.name,
          driver: mount.driver ?? "local",
          ...(mount.driverOptions ? { driverOpts: mount.driverOptions } : {}),
        });
      }
      const volume = this.get(mount.name);
      (this.#users.get(containerId) ?? this.#users.set(containerId, new Set()).get(containerId)!).add(volume.name);
      mount.source = await this.driver(volume.driver, volume.name).mount(volume.name, containerId);
    }
    for (const mount of mounts) {
      if (!mount.hostPath) continue;
      const hostBinds = this.storage?.hostBinds;
      const answer = await hostBinds?.resolver.resolve(mount.hostPath, mount.request.createSource);
      if (!hostBinds || !answer || !("share" in answer))
        throw new EngineError(
          "invalidArgument",
          answer && "refused" in answer
            ? answer.refused
            : `bind source path ${mount.hostPath} is a directory of the host, and this engine offers none: start \`drydock daemon\` with --allow-bind DIR naming a directory that holds it`,
        );
      await this.storage?.ready();
      mount.source = `${hostBinds.root}/${answer.share}`;
    }
    if (!mounts.some((mount) => mount.hostPath)) return;
    // The guest keeps what it read of the share (cache=loose, right for layers): what it holds of host files no
    // container uses is dropped, so this container sees the host's files as they are now.
    const argv = ["sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches"];
    this.tracer?.emit({ op: "exec", argv });
    await this.agent.run(["/bin/busybox", ...argv]);
  }

  /**
   * A container read back from the engine's records uses these volumes again (they were kept with their files); the
   * share that serves them is mounted before this settles.
   */
  async adopt(containerId: string, names: readonly string[]): Promise<void> {
    this.#users.set(containerId, new Set(names));
    if (names.length) await this.storage?.ready();
  }

  /** The container is gone: its volumes are free again; with `removeAnonymous` its anonymous volumes go too. */
  async detach(containerId: string, options: { removeAnonymous?: boolean } = {}): Promise<void> {
    const used = this.#users.get(containerId);
    this.#users.delete(containerId);
    if (!used) return;
    for (const name of used) {
      const volume = this.#volumes.get(name);
      if (volume) await this.#drivers.get(volume.driver)?.unmount(name, containerId);
    }
    if (!options.removeAnonymous) return;
    for (const name of used) {
      const volume = this.#volumes.get(name);
      if (volume?.anonymous && this.users(name).length === 0) await this.remove(name).catch(() => {});
    }
  }
}
