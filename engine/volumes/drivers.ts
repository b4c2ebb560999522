// Volume drivers, in the shape of Docker's volume plugin protocol (Create, Remove, Mount, Unmount, Path, Get, List,
// Capabilities) as methods rather than HTTP calls. VolumeStore keeps the records and who uses what; a driver keeps
// the files: `local` as a directory per volume (in the guest, or in the engine's storage through the 9P share),
// `tmpfs` as a tmpfs mounted in the guest, so its files live in guest memory and are gone with the guest.
import { EngineError } from "../errors.ts";
import type { Tracer } from "../trace/index.ts";
import type { VolumeAgent, VolumeStoreStorage } from "./volumes.ts";

/** What a driver answers to Create and Get: where the volume is and what `docker volume inspect` shows of it. */
export interface DriverVolume {
  name: string;
  mountpoint: string;
  /** The options it was made with, as inspect shows them. */
  options: Record<string, string>;
  /** Driver-specific state for inspect's Status (plugins' `Status`), if any. */
  status?: Record<string, string>;
  /** Kept by the driver from an earlier engine (createdAt, labels, anonymous), for List after a restart. */
  createdAt?: number;
  labels?: Record<string, string>;
  anonymous?: boolean;
}

export interface DriverCreateRequest {
  name: string;
  options: Record<string, string>;
  createdAt: number;
  labels: Record<string, string>;
  anonymous: boolean;
}

/** One volume driver (Docker's `/VolumeDriver.*` calls). */
export interface VolumeDriver {
  readonly name: string;
  /** The `--opt` keys it takes; others are refused before Create. */
  readonly optionKeys: readonly string[];
  /** Checks options beyond their keys; throws invalidArgument naming the bad one. */
  checkOptions(options: Record<string, string>): void;
  create(request: DriverCreateRequest): Promise<DriverVolume>;
  remove(name: string): Promise<void>;
  /** Makes the volume ready for a container; answers the guest path to bind. */
  mount(name: string, containerId: string): Promise<string>;
  unmount(name: string, containerId: string): Promise<void>;
  path(name: string): string;
  get(name: string): DriverVolume | undefined;
  /** The volumes the driver has (after a restart: those it kept). */
  list(): DriverVolume[];
  /** Bytes its files take. */
  size(name: string): Promise<number>;
  capabilities(): { Scope: "local" | "global" };
}

async function du(agent: VolumeAgent, tracer: Tracer | undefined, name: string, path: string): Promise<number> {
  tracer?.emit({ op: "exec", argv: ["du", "-sk", path] }, name);
  const { stdout } = await agent.run(["/bin/busybox", "du", "-sk", path]);
  return Number(/^(\d+)/.exec(stdout)?.[1] ?? 0) * 1024;
}

function refuseOptions(driver: string, options: Record<string, string>, takes: readonly string[]): void {
  const unknown = Object.keys(options).filter((key) => !takes.includes(key));
  if (!unknown.length) return;
  const taken = takes.length ? `it takes ${takes.join(", ")}` : "it takes no options";
  throw new EngineError(
    "invalidArgument",
    `the ${driver} volume driver does not take the option${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} (${taken})`,
  );
}

/** `local`: a directory per volume under the root (`<root>/<name>/_data`), as dockerd keeps them. */
export class LocalDriver implements VolumeDriver {
  readonly name = "local";
  readonly optionKeys: readonly string[] = [];
  readonly #names = new Set<string>();

  constructor(
    readonly agent: VolumeAgent,
    readonly root: string,
    readonly tracer?: Tracer,
    readonly storage?: VolumeStoreStorage,
  ) {
    for (const name of storage?.tree.volumes() ?? []) this.#names.add(name);
  }

  checkOptions(options: Record<string, string>): void {
    refuseOptions(this.name, options, this.optionKeys);
  }

  path(name: string): string {
    return `${this.root}/${name}/_data`;
  }

  async create(request: DriverCreateRequest): Promise<DriverVolume> {
    const mountpoint = this.path(request.name);
    await this.storage?.ready();
    this.tracer?.emit({ op: "mkdir", path: mountpoint }, request.name);
    await this.agent.mkdir(mountpoint, { parents: true });
    this.storage?.tree.setVolumeInfo(request.name, {
      createdAt: request.createdAt,
      labels: request.labels,
      anonymous: request.anonymous,
    });
    this.#names.add(request.name);
    return { name: request.name, mountpoint, options: {} };
  }

  async remove(name: string): Promise<void> {
    const dir = `${this.root}/${name}`;
    await this.storage?.ready();
    this.tracer?.emit({ op: "rm", path: dir, recursive: true }, name);
    await this.agent.remove(dir, { recursive: true });
    this.#names.delete(name);
  }

  async mount(name: string): Promise<string> {
    await this.storage?.ready();
    return this.path(name);
  }

  async unmount(): Promise<void> {}

  get(name: string): DriverVolume | undefined {
    if (!this.#names.has(name)) return undefined;
    const info = this.storage?.tree.volumeInfo(name);
    return {
      name,
      mountpoint: this.path(name),
      options: {},
      createdAt: info?.createdAt,
      labels: info?.labels,
      anonymous: info?.anonymous,
    };
  }

  list(): DriverVolume[] {
    return [...this.#names].flatMap((name) => this.get(name) ?? []);
  }

  async size(name: string): Promise<number> {
    // Kept outside the guest: the engine knows the sizes without asking it.
    if (this.storage) return this.storage.tree.usage(name);
    return du(this.agent, this.tracer, name, this.path(name));
  }

  capabilities() {
    return { Scope: "local" as const };
  }
}

/** A tmpfs size as mount(8) takes it: bytes with an optional k/m/g suffix, or a percentage of memory. */
const TMPFS_SIZE = /^[1-9]\d*[kKmMgG%]?$/;
const TMPFS_MODE = /^[0-7]{3,4}$/;

/**
 * What the tmpfs and image drivers share: each volume is something mounted in the guest at `<root>/<name>`, known
 * only to this engine (no records: after an engine restart List answers only what this engine made), removed by
 * unmounting it and its mount point, sized with `du`.
 */
abstract class GuestMountDriver implements VolumeDriver {
  abstract readonly name: string;
  abstract readonly optionKeys: readonly string[];
  protected readonly volumes = new Map<string, DriverVolume>();

  constructor(
    readonly agent: VolumeAgent,
    readonly root: string,
    readonly tracer?: Tracer,
  ) {}

  abstract checkOptions(options: Record<string, string>): void;
  abstract create(request: DriverCreateRequest): Promise<DriverVolume>;
  /** What its mount is, for the refusal when it cannot be unmounted ("tmpfs", "image view"). */
  protected abstract readonly what: string;

  path(name: string): string {
    return `${this.root}/${name}`;
  }

  /** What else goes with a removed volume (after its mount point). */
  protected async released(_name: string): Promise<void> {}

  async remove(name: string): Promise<void> {
    const mountpoint = this.path(name);
    this.tracer?.emit({ op: "exec", argv: ["umount", mountpoint] }, name);
    const result = await this.agent.run(["/bin/busybox", "umount", mountpoint]);
    if (result.code !== 0 && this.volumes.has(name))
      throw new EngineError("conflict", `remove ${name}: cannot unmount its ${this.what} (${result.stderr.trim()})`);
    this.tracer?.emit({ op: "rm", path: mountpoint, recursive: true }, name);
    await this.agent.remove(mountpoint, { recursive: true });
    await this.released(name);
    this.volumes.delete(name);
  }

  async mount(name: string): Promise<string> {
    return this.path(name);
  }

  async unmount(): Promise<void> {}

  get(name: string): DriverVolume | undefined {
    return this.volumes.get(name);
  }

  list(): DriverVolume[] {
    return [...this.volumes.values()];
  }

  size(name: string): Promise<number> {
    return du(this.agent, this.tracer, name, this.path(name));
  }

  capabilities() {
    return { Scope: "local" as const };
  }
}

/**
 * `tmpfs`: each volume is a tmpfs mounted in the guest (`mount -t tmpfs -o size=… tmpfs <mountpoint>`), outside the
 * engine's storage, so its files live in guest memory and go with the guest. The driver keeps no records: after an
 * engine restart its volumes are gone (List answers only what this engine made).
 */
export class TmpfsDriver extends GuestMountDriver {
  readonly name = "tmpfs";
  readonly optionKeys: readonly string[] = ["size", "mode"];
  protected readonly what = "tmpfs";

  checkOptions(options: Record<string, string>): void {
    refuseOptions(this.name, options, this.optionKeys);
    if (options.size !== undefined && !TMPFS_SIZE.test(options.size))
      throw new EngineError(
        "invalidArgument",
        `the tmpfs volume driver's size must be a number of bytes with an optional k, m or g (or a percentage of memory), like size=16m; got "${options.size}"`,
      );
    if (options.mode !== undefined && !TMPFS_MODE.test(options.mode))
      throw new EngineError(
        "invalidArgument",
        `the tmpfs volume driver's mode must be octal permissions like mode=1777; got "${options.mode}"`,
      );
  }

  async create(request: DriverCreateRequest): Promise<DriverVolume> {
    const mountpoint = this.path(request.name);
    const mountOptions = ["size", "mode"].flatMap((key) =>
      request.options[key] !== undefined ? [`${key}=${request.options[key]}`] : [],
    );
    this.tracer?.emit({ op: "mkdir", path: mountpoint }, request.name);
    await this.agent.mkdir(mountpoint, { parents: true });
    const argv = ["mount", "-t", "tmpfs", ...(mountOptions.length ? ["-o", mountOptions.join(",")] : [])];
    argv.push(`drydock-${request.name}`, mountpoint);
    this.tracer?.emit({ op: "exec", argv }, request.name);
    const result = await this.agent.run(["/bin/busybox", ...argv]);
    if (result.code !== 0) {
      await this.agent.remove(mountpoint, { recursive: true }).catch(() => {});
      throw new EngineError(
        "invalidArgument",
        `create ${request.name}: the guest refused the tmpfs mount (${result.stderr.trim() || `exit ${result.code}`})`,
      );
    }
    const volume: DriverVolume = {
      name: request.name,
      mountpoint,
      options: { ...request.options },
      status: { Backing: "tmpfs in guest memory; its files are gone when the guest stops" },
    };
    this.volumes.set(request.name, volume);
    return volume;
  }
}

/** What the image driver needs of the engine: an image's layers and a read-only view of them in the guest. */
export interface ImageLayerSource {
  /** The chain ids of a pulled image's layers, bottom first (notFound when it is not there). */
  layers(ref: string): Promise<string[]>;
  /** The image's id (its config's digest), kept in the volume's Status so `docker rmi` knows the image is served. */
  imageId?(ref: string): Promise<string>;
  /** A read-only view over the top of those layers, under `key`: the mounts that assemble it. */
  view(key: string, layers: readonly string[]): Promise<{ type: string; source: string; options: string[] }[]>;
  release(key: string): Promise<void>;
}

/**
 * `image`: a read-only volume serving a pulled image's files (`--opt ref=busybox`), an overlay of its layers with no
 * upper directory mounted in the guest, the kind of thing a volume plugin is for (the data comes from elsewhere than a
 * directory of the host). It keeps no records: its volumes are gone after an engine restart, like tmpfs ones.
 */
export class ImageDriver extends GuestMountDriver {
  readonly name = "image";
  readonly optionKeys: readonly string[] = ["ref"];
  protected readonly what = "image view";

  constructor(
    agent: VolumeAgent,
    root: string,
    readonly source: ImageLayerSource,
    tracer?: Tracer,
  ) {
    super(agent, root, tracer);
  }

  checkOptions(options: Record<string, string>): void {
    refuseOptions(this.name, options, this.optionKeys);
    if (!options.ref)
      throw new EngineError(
        "invalidArgument",
        "the image volume driver needs the image to serve: --opt ref=IMAGE (pulled first, like busybox)",
      );
  }

  #key(name: string): string {
    return `volume-image-${name}`;
  }

  async #run(name: string, argv: string[]): Promise<void> {
    this.tracer?.emit({ op: "exec", argv }, name);
    const result = await this.agent.run(["/bin/busybox", ...argv]);
    if (result.code !== 0)
      throw new EngineError(
        "invalidArgument",
        `create ${name}: ${argv.join(" ")} failed in the guest (${result.stderr.trim() || `exit ${result.code}`})`,
      );
  }

  async create(request: DriverCreateRequest): Promise<DriverVolume> {
    const ref = request.options.ref ?? "";
    const layers = await this.source.layers(ref).catch((error: unknown) => {
      throw new EngineError(
        "notFound",
        `create ${request.name}: the image volume driver cannot serve ${ref}: ${error instanceof Error ? error.message : String(error)} (pull it first)`,
      );
    });
    if (!layers.length)
      throw new EngineError("invalidArgument", `create ${request.name}: ${ref} has no layers, so no files to serve`);
    const mountpoint = this.path(request.name);
    const key = this.#key(request.name);
    const [mount] = await this.source.view(key, layers);
    try {
      this.tracer?.emit({ op: "mkdir", path: mountpoint }, request.name);
      await this.agent.mkdir(mountpoint, { parents: true });
      if (!mount) throw new EngineError("internal", `create ${request.name}: no mount for ${ref}'s layers`);
      if (mount.type === "bind") {
        await this.#run(request.name, ["mount", "--bind", mount.source, mountpoint]);
        await this.#run(request.name, ["mount", "-o", "remount,bind,ro", mountpoint]);
      } else {
        await this.#run(request.name, [
          "mount",
          "-t",
          mount.type,
          "-o",
          mount.options.join(","),
          mount.source,
          mountpoint,
        ]);
      }
    } catch (error) {
      await this.agent.run(["/bin/busybox", "umount", mountpoint]).catch(() => {});
      await this.agent.remove(mountpoint, { recursive: true }).catch(() => {});
      await this.source.release(key).catch(() => {});
      throw error;
    }
    const imageId = await this.source.imageId?.(ref).catch(() => undefined);
    const volume: DriverVolume = {
      name: request.name,
      mountpoint,
      options: { ref },
      status: {
        Image: ref,
        ...(imageId ? { ImageID: imageId } : {}),
        Layers: String(layers.length),
        Access: "read-only",
      },
    };
    this.volumes.set(request.name, volume);
    return volume;
  }

  protected override async released(name: string): Promise<void> {
    await this.source.release(this.#key(name)).catch(() => {});
  }
}
