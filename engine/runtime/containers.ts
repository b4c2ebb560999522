// Containers (metadata: image, spec, name, status) and their tasks (the running process tree), kept apart: a
// container exists from create to remove; a task exists from start to exit. Every status change goes through the
// state machine in state.ts.
import type { GuestProcess } from "../agent/index.ts";
import type { MetadataStore } from "../content/metadata.ts";
import { EngineError, isEngineError } from "../errors.ts";
import type { ContainerEventAction, EventLog } from "../events.ts";
import type { ImageDetails } from "../images/index.ts";
import {
  type ContainerNetworkRequest,
  type Endpoint,
  type EndpointConfig,
  endpointCounters,
  hostsFile,
  type Network,
  type Networking,
  type PublishedPort,
  parseNetDev,
  resolvConf,
} from "../network/index.ts";
import { diffUpperDir, type OverlaySnapshotter, type UpperDirDiff } from "../snapshots/index.ts";
import type { Tracer } from "../trace/index.ts";
import { type ContainerMount, parseBind, type VolumeStore } from "../volumes/index.ts";
import {
  layerChanges,
  layerSize,
  WASI_RUNTIME,
  type WasiRuntime,
  type WasiTask,
  type WritableLayer,
} from "../wasi/index.ts";
import { containerDir, createRuntimeSpec, DEFAULT_DEVICES, resolveCommand } from "./create-spec.ts";
import { LogBuffer, type LogEntry, type LogReadOptions } from "./logs.ts";
import { parseVolumesFrom, type RunOptions, type ValidRunOptions, validateRunOptions } from "./options.ts";
import {
  afterEngineRestart,
  CONTAINERS_DOCUMENT,
  type ContainerRecord,
  decodeContainerRecords,
  encodeContainerRecords,
} from "./records.ts";
import { NO_RESTART, nextRestartDelay, shouldRestart } from "./restart.ts";
import { SavedLog } from "./saved-logs.ts";
import type { RuntimeDevice, RuntimeSpec } from "./spec.ts";
import { type ContainerAction, type ContainerStatus, requireTask, transition } from "./state.ts";
import { type CgroupSample, cgroupDir, type ProcessInfo, type RuntimeAgent, type Task, TaskRunner } from "./task.ts";
import { forgetUpperLayer, restoreUpperLayer, saveUpperLayer } from "./upper-layer.ts";

/** How a container's last task ended. */
export interface ExitInfo {
  code: number;
  signal?: number;
  /** The kernel's OOM killer ended it (memory.events counted an oom_kill). */
  oomKilled: boolean;
  /** Milliseconds since the epoch. */
  finishedAt: number;
  /** Why the task could not start, when it could not. */
  error?: string;
}

export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  imageId: string;
  command: string[];
  status: ContainerStatus;
  created: number;
  /** The image's labels with the container's own over them (`docker ps --filter label=…`). */
  labels: Record<string, string>;
  /** The image's exposed ports with the container's own (`80/tcp`). */
  exposedPorts: string[];
  /** What runs it: `drydock` (a process in the guest) or `wasi` (a WebAssembly module, engine/wasi). */
  runtime: string;
  /** Its networks (with its endpoint on each while it runs) and published ports. */
  network: ContainerNetworkInfo;
  /** Its task ended and its restart policy starts it again after a wait (dockerd's `restarting`). */
  restarting: boolean;
  /** Times its restart policy started it again since it was last started by hand. */
  restartCount: number;
}

/** A container's networking as inspect and ps show it. */
export interface ContainerNetworkInfo {
  /** `HostConfig.NetworkMode` as given (`default`, `none`, `host`, `container:…`, a network name). */
  mode: string;
  networks: { network: Network; config: EndpointConfig; endpoint?: Endpoint }[];
  /** Ports published while it runs. */
  ports: PublishedPort[];
}

/** The runtime of Linux containers: processes in the guest (`docker info` lists it with the WASI one). */
export const GUEST_RUNTIME = "drydock";

/** What `run` returns: the container as it is once started, and its exit to come. */
export interface RunResult extends ContainerDetails {
  exited: Promise<ExitInfo>;
}

export interface ContainerDetails extends ContainerSummary {
  spec: RuntimeSpec;
  /** The options it was created with, checked. */
  options: ValidRunOptions;
  /** What it runs: the entrypoint and cmd, after the image's defaults were applied. */
  entrypoint: string[];
  cmd: string[];
  /** The task's pid in the guest, while it runs. */
  pid?: number;
  startedAt?: number;
  exit?: ExitInfo;
  /** The snapshot holding the container's writable layer, and its upper dir in the guest. */
  snapshot: { key: string; upperDir: string };
  /** The overlay mount of its root as the guest has it (empty once removed): `docker inspect`'s GraphDriver. */
  graphDriver: { lowerDir: string; upperDir: string; workDir: string; mergedDir: string };
  /** Its volumes, binds and tmpfs mounts (`docker inspect`'s Mounts). */
  mounts: ContainerMount[];
}

/** What the runtime needs from the image store. */
export interface ImageLookup {
  image(nameOrId: string): Promise<ImageDetails>;
}

/** When `waitFor` settles: Docker's `wait?condition=`. */
export type WaitCondition = "not-running" | "next-exit" | "removed";

interface Container {
  id: string;
  name: string;
  image: string;
  imageId: string;
  options: ValidRunOptions;
  entrypoint: string[];
  cmd: string[];
  /** The running task's stdin, shared by every attached client; undefined once closed. */
  stdin?: WritableStreamDefaultWriter<Uint8Array>;
  spec: RuntimeSpec;
  mounts: ContainerMount[];
  status: ContainerStatus;
  created: number;
  labels: Record<string, string>;
  exposedPorts: string[];
  startedAt?: number;
  task?: Task;
  exit?: ExitInfo;
  /** Settles when the current task's exit has been handled (cgroup removed, root unmounted). */
  exited?: Promise<ExitInfo>;
  logs: LogBuffer;
  /** Its output as kept in the records' store (across engine restarts); none without a store. */
  savedLog?: SavedLog;
  runtime: string;
  /** A WASI container's image and writable layer, and its running module. */
  wasi?: { image: ImageDetails; layer: WritableLayer; task?: WasiTask };
  /** Times the restart policy started it again since it was last started by hand. */
  restartCount: number;
  /** Its last run was ended by `docker stop`/`kill`. */
  stoppedByUser: boolean;
  /** Read back from the records after an engine restart: its root is made in the guest at its next start. */
  needsRootfs?: boolean;
  /** Its root being made for this guest (ensureRootfs), so two callers make it once. */
  remaking?: Promise<void>;
  /** A start under way (its status is already running; its task comes when this settles). */
  starting?: Promise<void>;
  /** The policy's next start, while it waits. */
  pendingRestart?: ReturnType<typeof setTimeout>;
  /** The wait before the policy's last restart (it doubles for each restart in a row). */
  restartDelayMs?: number;
  /** False for a container whose files are not saved to the engine's storage when its task ends (a build step's). */
  keepFiles?: boolean;
}

/** One path a container changed: `A`dded, `C`hanged or `D`eleted, as `docker diff` prints them. */
export interface FilesystemChange {
  kind: "A" | "C" | "D";
  path: string;
}

/**
 * Lists a writable layer's paths ($1, the upper dir) against the layers below ($2…): a character device 0:0 is
 * overlayfs's whiteout (deleted), a path found below was changed, anything else was added.
 */
const CHANGES_SCRIPT = `upper=$1; shift
cd "$upper" || exit 1
find . -mindepth 1 | while IFS= read -r p; do
  p=\${p#.}
  if [ -c "$upper$p" ] && [ "$(stat -c %t:%T "$upper$p")" = 0:0 ]; then echo "D $p"; continue; fi
  kind=A
  for lower in "$@"; do
    if [ -e "$lower$p" ] || [ -L "$lower$p" ]; then kind=C; break; fi
  done
  echo "$kind $p"
done`;

export interface ExecOptions {
  env?: string[];
  /** `--user`: name, uid, name:group or uid:gid, resolved against the container's files; its own user if absent. */
  user?: string;
  pty?: { rows: number; cols: number };
  /** An absolute directory in the container to run in (default: where its process runs). */
  workdir?: string;
  /** Leave the exec out of the trace (a lesson's check, polling every few seconds). */
  quiet?: boolean;
  /** `docker exec --privileged`: every capability for this process (the container's device list still holds). */
  privileged?: boolean;
}

function newId(): string {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Containers {
  readonly #containers = new Map<string, Container>();
  readonly #runner: TaskRunner;
  /** The shared init layer of each image top layer, by snapshot key. */
  readonly #initLayers = new Map<string, Promise<string>>();
  /** Every exit and removal, for `waitFor` (one listener per waiting client). */
  readonly #exits = new Set<(id: string, exit: ExitInfo) => void>();
  readonly #removals = new Set<(id: string) => void>();
  /** The records' last write (they are written one after another, each the whole list). */
  #saving: Promise<void> = Promise.resolve();
  #saveQueued = false;
  #saveError: unknown;
  /** Set by `close`: restart policies start nothing more. */
  #closed = false;
  /** Kept logs of removed containers being deleted from the store, and the last such deletion's failure. */
  readonly #logRemovals = new Set<Promise<void>>();
  #logRemovalError: unknown;
  /** Each container's last save of its writable layer to the records' store (one after another per container). */
  readonly #layerSaves = new Map<string, Promise<void>>();
  /** Why a container's writable layer could not be saved, until a later save of it works. */
  readonly #layerErrors = new Map<string, unknown>();

  constructor(
    readonly agent: RuntimeAgent,
    readonly images: ImageLookup,
    readonly snapshotter: OverlaySnapshotter,
    readonly tracer?: Tracer,
    readonly events?: EventLog,
    readonly wasi?: WasiRuntime,
    /** Where volumes come from; without it a container asking for a mount is refused. */
    readonly volumes?: VolumeStore,
    /** Networks, endpoints and published ports; without it every container has a loopback interface only. */
    readonly networking?: Networking,
    /** Where the container records are kept between runs of the engine; nowhere (memory only) without it. */
    readonly records?: MetadataStore,
  ) {
    this.#runner = new TaskRunner(agent, tracer);
  }

  /** Signals a container's task: a guest process gets the signal, a WASI module's worker is terminated. */
  #signal(container: Container, signal: number): void {
    if (container.wasi) container.task?.process.kill(signal);
    else if (container.task) this.#runner.signal(container.id, container.task, signal);
  }

  /** A WASI module is not a process tree in the guest: what needs one says so. */
  #refuseWasi(container: Container, what: string): void {
    if (container.wasi) {
      throw new EngineError(
        "conflict",
        `cannot ${what} container ${container.id.slice(0, 12)}: it is a WASI container (a WebAssembly module, not Linux processes)`,
      );
    }
  }

  /** Tells `docker events` what happened to a container, with its name and image as dockerd does. */
  #event(container: Container, action: ContainerEventAction, attributes: Record<string, string> = {}): void {
    this.events?.emit({
      type: "container",
      action,
      id: container.id,
      attributes: { image: container.image, name: container.name, ...attributes },
    });
    // Every change of a container is an event: each one rewrites the records.
    this.#persist();
  }

  /** Queues a write of every container's record (one write stands for all changes made before it starts). */
  #persist(): void {
    const records = this.records;
    if (!records || this.#saveQueued) return;
    this.#saveQueued = true;
    this.#saving = this.#saving.then(async () => {
      this.#saveQueued = false;
      const list = [...this.#containers.values()].filter((c) => c.status !== "removed").map((c) => this.#record(c));
      try {
        await records.write(CONTAINERS_DOCUMENT, encodeContainerRecords(list));
        this.#saveError = undefined;
      } catch (error) {
        this.#saveError = error;
      }
    });
  }

  /**
   * Settles once every change made so far is written to the records, with the writable layer of every container
   * (a running one's read while its processes are frozen); rejects when the last write of either failed.
   */
  async saved(): Promise<void> {
    for (const container of this.#containers.values()) {
      if ((container.status === "running" || container.status === "paused") && container.task) {
        void this.#keepUpperLayer(container, { live: container.status === "running" });
      }
    }
    await Promise.all([...this.#layerSaves.values()]);
    const logs = [...this.#containers.values()].flatMap((c) => (c.savedLog ? [c.savedLog] : []));
    await Promise.all([this.#saving, ...logs.map((log) => log.flush()), ...this.#logRemovals]);
    if (this.#saveError !== undefined) {
      throw new EngineError("internal", `saving the container records failed: ${String(this.#saveError)}`, {
        cause: this.#saveError,
      });
    }
    const failed = logs.find((log) => log.error !== undefined);
    const error = failed?.error ?? this.#logRemovalError;
    if (error !== undefined) {
      const what = failed ? `saving the log of container ${failed.id.slice(0, 12)}` : "removing a container's log";
      throw new EngineError("internal", `${what} failed: ${String(error)}`, { cause: error });
    }
    const [layerError] = this.#layerErrors.values();
    if (layerError !== undefined) throw layerError;
  }

  /**
   * Saves the container's writable layer to the records' store, after any save of it still under way; with `live`
   * its processes are frozen while its files are read. Never rejects: a failure is kept for `saved()` to report.
   */
  #keepUpperLayer(container: Container, { live }: { live: boolean }): Promise<void> {
    const records = this.records;
    if (!records || container.wasi || container.options.rm || container.keepFiles === false) return Promise.resolve();
    const { id } = container;
    const save = async () => {
      // Best effort: a task that is ending has no cgroup left to freeze, and nothing left to write either.
      const freeze =
        live &&
        (await this.#runner.freeze(id, container.spec, true).then(
          () => true,
          () => false,
        ));
      try {
        await saveUpperLayer({
          agent: this.agent,
          store: records,
          id,
          upperDir: this.snapshotter.upperDir(id),
          tracer: this.tracer,
        });
      } finally {
        if (freeze) await this.#runner.freeze(id, container.spec, false).catch(() => {});
      }
    };
    const saving = (this.#layerSaves.get(id) ?? Promise.resolve()).then(save).then(
      () => {
        this.#layerErrors.delete(id);
      },
      (error: unknown) => {
        this.#layerErrors.set(id, error);
      },
    );
    this.#layerSaves.set(id, saving);
    void saving.then(() => {
      if (this.#layerSaves.get(id) === saving) this.#layerSaves.delete(id);
    });
    return saving;
  }

  #record(c: Container): ContainerRecord {
    const record: ContainerRecord = {
      id: c.id,
      name: c.name,
      image: c.image,
      imageId: c.imageId,
      runtime: c.runtime,
      options: c.options,
      entrypoint: c.entrypoint,
      cmd: c.cmd,
      spec: c.spec,
      mounts: c.mounts,
      status: c.status,
      created: c.created,
      labels: c.labels,
      exposedPorts: c.exposedPorts,
      restartCount: c.restartCount,
      stoppedByUser: c.stoppedByUser,
    };
    if (c.startedAt !== undefined) record.startedAt = c.startedAt;
    if (c.exit) record.exit = c.exit;
    return record;
  }

  /**
   * Reads the records kept by an earlier run of the engine: each container is back, exited if it was running (its
   * task died with the guest), its root made anew at its next start with the files of its last saved writable layer.
   * Returns the restored ids.
   * @example
   * await containers.restore();
   */
  async restore(): Promise<string[]> {
    if (!this.records) return [];
    const records = decodeContainerRecords(await this.records.read(CONTAINERS_DOCUMENT));
    const now = Date.now();
    const restored: string[] = [];
    for (const found of records.sort((a, b) => a.created - b.created)) {
      if (this.#containers.has(found.id)) continue;
      const record = afterEngineRestart(found, now);
      let wasiImage: ImageDetails | undefined;
      if (record.runtime === WASI_RUNTIME) {
        wasiImage = await this.images.image(record.imageId).catch(() => undefined);
        // Its image is gone (a WASI container cannot run without it): it is not brought back, nor its log.
        if (!wasiImage) {
          await SavedLog.discard(this.records, record.id).catch(() => {});
          continue;
        }
      }
      // Its output from before: `docker logs` shows it, and its next run adds to it.
      const kept = await SavedLog.open(this.records, record.id);
      const logs = new LogBuffer();
      for (const entry of kept.entries) logs.append(entry.stream, entry.data, entry.time);
      const container: Container = {
        id: record.id,
        name: record.name,
        image: record.image,
        imageId: record.imageId,
        options: record.options,
        entrypoint: record.entrypoint,
        cmd: record.cmd,
        spec: record.spec,
        mounts: record.mounts,
        status: record.status,
        created: record.created,
        labels: record.labels,
        exposedPorts: record.exposedPorts,
        logs,
        savedLog: kept.log,
        runtime: record.runtime,
        restartCount: record.restartCount ?? 0,
        stoppedByUser: record.stoppedByUser ?? false,
      };
      if (record.startedAt !== undefined) container.startedAt = record.startedAt;
      if (record.exit) container.exit = record.exit;
      container.logs.close();
      if (wasiImage) container.wasi = { image: wasiImage, layer: new Map() };
      else {
        container.needsRootfs = true;
        try {
          this.networking?.register(container.id, networkRequest(container.options), (ref) => this.#peer(ref));
        } catch {
          // Its network is gone: its next start says so (it is set up again from its options then).
        }
        await this.volumes?.adopt(
          container.id,
          container.mounts.flatMap((mount) => (mount.type === "volume" && mount.name ? [mount.name] : [])),
        );
      }
      this.#containers.set(container.id, container);
      restored.push(container.id);
    }
    if (restored.length) this.#persist();
    // A --rm container whose removal the last engine did not finish (the tab closed as it exited) is removed now,
    // with its anonymous volumes, as dockerd removes auto-remove containers it finds at start.
    const autoRemoved = restored.filter((id) => this.#containers.get(id)?.options.rm);
    for (const id of autoRemoved) await this.remove(id, { force: true, volumes: true }).catch(() => {});
    return restored.filter((id) => !autoRemoved.includes(id));
  }

  /**
   * Records an event about a container that happened outside the runtime (an attach or an exec through the API).
   * @example
   * containers.event(id, "exec_create", { execID });
   */
  event(ref: string, action: ContainerEventAction, attributes: Record<string, string> = {}): void {
    this.#event(this.#find(ref), action, attributes);
  }

  /** Finds a container by ID, unique ID prefix, or name. */
  #find(ref: string): Container {
    const byName = [...this.#containers.values()].find((c) => c.name === ref);
    if (byName) return byName;
    const matches = [...this.#containers.values()].filter((c) => ref.length > 0 && c.id.startsWith(ref));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new EngineError("invalidArgument", `container ID prefix ${ref} is ambiguous`);
    throw new EngineError("notFound", `no such container: ${ref}`);
  }

  #move(container: Container, action: ContainerAction): void {
    container.status = transition(container.status, action, container.id);
  }

  /**
   * `runtime` is chosen by the container service from the image's platform (GUEST_RUNTIME or WASI_RUNTIME);
   * `keepFiles: false` leaves its writable layer out of the engine's storage (a build step's, read and removed at once).
   */
  async create(
    image: string,
    options: RunOptions = {},
    runtime = GUEST_RUNTIME,
    { keepFiles = true }: { keepFiles?: boolean } = {},
  ): Promise<ContainerDetails> {
    const valid = validateRunOptions(options);
    if (valid.name && [...this.#containers.values()].some((c) => c.name === valid.name)) {
      throw new EngineError("conflict", `the container name "${valid.name}" is already in use`);
    }
    const details = await this.images.image(image);
    const id = newId();
    const imageConfig = details.config.config ?? {};
    if (runtime === WASI_RUNTIME) refuseWasiNetworking(valid);
    else this.networking?.register(id, networkRequest(valid), (ref) => this.#peer(ref));
    // A WebAssembly container has no guest devices to add.
    const devices = runtime === WASI_RUNTIME ? [] : await this.#guestDevices(valid);
    const spec = createRuntimeSpec(imageConfig, valid, id, devices);
    // --network host: the guest's own network namespace, so none of the container's own.
    if (this.networking?.modeOf(id)?.kind === "host") {
      spec.linux.namespaces = spec.linux.namespaces.filter((ns) => ns.type !== "network");
    }
    const { entrypoint, cmd } = resolveCommand(details.config.config ?? {}, valid);
    if (runtime === WASI_RUNTIME && (valid.mounts.length || valid.volumesFrom?.length)) {
      throw new EngineError(
        "invalidArgument",
        "a WebAssembly (wasi) container cannot mount volumes, binds or tmpfs yet: its files are the image's and its own",
      );
    }
    const mounts =
      runtime === WASI_RUNTIME ? [] : await this.#attachMounts(id, valid, Object.keys(imageConfig.Volumes ?? {}));
    if (runtime !== WASI_RUNTIME) {
      this.snapshotter.registerLayers(details.layers.map((layer) => layer.chainId));
      try {
        await this.#prepareRootfs(id, spec, details.layers.at(-1)?.chainId, valid);
      } catch (error) {
        await this.volumes?.detach(id, { removeAnonymous: true }).catch(() => {});
        this.networking?.forget(id);
        throw error;
      }
    }
    spec.mounts.push(
      ...mounts.map((mount) =>
        mount.type === "tmpfs"
          ? {
              destination: mount.destination,
              type: "tmpfs",
              source: "tmpfs",
              options: ["nosuid", "nodev", "noexec", ...(mount.tmpfsOptions ? [mount.tmpfsOptions] : [])],
            }
          : {
              destination: mount.destination,
              type: "bind",
              source: mount.source,
              options: ["rbind", "rprivate", mount.readonly ? "ro" : "rw"],
            },
      ),
    );
    const container: Container = {
      id,
      name: valid.name ?? id.slice(0, 12),
      image,
      imageId: details.record.config.digest,
      options: valid,
      entrypoint,
      cmd,
      spec,
      mounts,
      status: "created",
      created: Date.now(),
      labels: { ...imageConfig.Labels, ...valid.labels },
      // A published port is exposed too, as dockerd records it.
      exposedPorts: [
        ...new Set([
          ...Object.keys(imageConfig.ExposedPorts ?? {}),
          ...valid.exposedPorts,
          ...Object.keys(valid.portBindings),
        ]),
      ],
      logs: new LogBuffer(),
      runtime,
      restartCount: 0,
      stoppedByUser: false,
    };
    if (this.records) container.savedLog = new SavedLog(this.records, id);
    if (runtime === WASI_RUNTIME) container.wasi = { image: details, layer: new Map() };
    if (!keepFiles) container.keepFiles = false;
    this.#containers.set(id, container);
    this.#event(container, "create");
    return this.inspect(id);
  }

  /** The container's mounts resolved into guest paths; an image's VOLUMEs become anonymous volumes unless mounted. */
  async #attachMounts(id: string, options: ValidRunOptions, imageVolumes: string[]): Promise<ContainerMount[]> {
    const requests = [...options.mounts];
    // --volumes-from: the other container's volumes (the same ones, by name) and binds at the same paths, unless
    // this container mounts something there itself; tmpfs mounts are its own and not shared.
    for (const from of options.volumesFrom ?? []) {
      const { container: ref, mode } = parseVolumesFrom(from);
      const other = this.#find(ref);
      for (const mount of other.mounts) {
        if (mount.type === "tmpfs" || requests.some((r) => r.target === mount.destination)) continue;
        requests.push({
          type: mount.type,
          source: mount.type === "volume" ? (mount.name ?? "") : mount.request.source,
          target: mount.destination,
          readonly: mode === undefined ? mount.readonly : mode === "ro",
          // It was filled when first mounted; a bind given with -v is made when missing, there as here.
          noCopy: true,
          createSource: mount.createSource,
          origin: "VolumesFrom",
          raw: from,
        });
      }
    }
    for (const path of imageVolumes) {
      const request = { ...parseBind(path), origin: "image" as const };
      if (!requests.some((r) => r.target === request.target)) requests.push(request);
    }
    if (requests.length === 0) return [];
    if (!this.volumes) {
      throw new EngineError("invalidArgument", "this engine has no volume store: volumes and mounts are not available");
    }
    return this.volumes.attach(id, requests);
  }

  /**
   * The guest's device nodes a container gets besides the defaults: each `--device`, or with --privileged every
   * device in the guest's /dev (as Docker gives a privileged container every host device).
   */
  async #guestDevices(options: ValidRunOptions): Promise<RuntimeDevice[]> {
    const lookup = async (host: string, inContainer: string): Promise<RuntimeDevice> => {
      const failed = (reason: string) =>
        new EngineError(
          "invalidArgument",
          `error gathering device information while adding custom device "${host}": ${reason}`,
        );
      const info = await this.agent.stat(host).catch((error: unknown) => {
        throw failed(isEngineError(error, "notFound") ? "no such file or directory" : String(error));
      });
      const type = (info.mode & 0o170000) === 0o060000 ? "b" : (info.mode & 0o170000) === 0o020000 ? "c" : undefined;
      if (!type || !info.rdev) throw failed("not a device node");
      return { type, path: inContainer, major: info.rdev.major, minor: info.rdev.minor, fileMode: info.mode & 0o7777 };
    };
    const devices = await Promise.all(options.devices.map((d) => lookup(d.pathOnHost, d.pathInContainer)));
    if (options.privileged) {
      const taken = new Set([...DEFAULT_DEVICES, ...devices].map((d) => d.path).concat("/dev/ptmx"));
      const entries = await this.agent.readdir("/dev");
      const nodes = entries.filter(
        (e) => [0o020000, 0o060000].includes(e.mode & 0o170000) && !taken.has(`/dev/${e.name}`),
      );
      devices.push(...(await Promise.all(nodes.map((e) => lookup(`/dev/${e.name}`, `/dev/${e.name}`)))));
    }
    return devices;
  }

  /**
   * Docker's init layer: the mount points the runtime needs (/proc, /sys, /dev, the /etc files it binds over) made
   * in a layer of their own between the image and the container's writable layer, so they never show up as the
   * container's changes. Once committed it is read-only and the same for every container of the image, so it is made
   * once per image and shared, like the image's own layers; each container gets only its writable layer and the
   * files its /etc binds.
   */
  async #prepareRootfs(
    id: string,
    spec: RuntimeSpec,
    top: string | undefined,
    options: Pick<ValidRunOptions, "extraHosts" | "dns" | "dnsSearch" | "dnsOptions">,
  ): Promise<void> {
    const init = await this.#initLayer(top);
    const dir = containerDir(id);
    const requests: Promise<unknown>[] = [this.snapshotter.prepare(id, init)];
    const write = (path: string, value: string) => {
      this.tracer?.emit({ op: "write", path, value }, id);
      requests.push(this.agent.writeFile(path, value));
    };
    // Sent together, in order: drydockd answers them in the order they arrive.
    this.tracer?.emit({ op: "mkdir", path: `${dir}/rootfs` }, id);
    requests.push(this.agent.mkdir(`${dir}/rootfs`, { parents: true }));
    write(`${dir}/hostname`, `${spec.hostname}\n`);
    // What a container with no network of its own has; a networked one gets its address and resolver at start.
    write(`${dir}/hosts`, hostsFile(spec.hostname ?? "", [], options.extraHosts));
    write(
      `${dir}/resolv.conf`,
      resolvConf(
        options.dns.length ? { kind: "servers", servers: options.dns } : { kind: "none" },
        options.dnsSearch,
        options.dnsOptions,
      ),
    );
    const settled = await Promise.allSettled(requests);
    const failed = settled.find((result) => result.status === "rejected");
    if (failed) {
      await this.#removeRootfs(id).catch(() => {});
      throw failed.reason;
    }
  }

  /** The committed init layer over the image's top layer (made the first time a container of the image needs it). */
  #initLayer(top: string | undefined): Promise<string> {
    const key = `init-${top?.replace(/^sha256:/, "") ?? "scratch"}`;
    let made = this.#initLayers.get(key);
    if (!made) {
      made = this.#makeInitLayer(key, top).catch((error: unknown) => {
        this.#initLayers.delete(key);
        throw error;
      });
      this.#initLayers.set(key, made);
    }
    return made;
  }

  async #makeInitLayer(key: string, top: string | undefined): Promise<string> {
    const active = `${key}-active`;
    await this.snapshotter.prepare(active, top);
    try {
      const upper = this.snapshotter.upperDir(active);
      const requests: Promise<unknown>[] = [];
      for (const sub of ["proc", "sys", "dev", "etc"]) {
        this.tracer?.emit({ op: "mkdir", path: `${upper}/${sub}` }, key);
        requests.push(this.agent.mkdir(`${upper}/${sub}`, { parents: true }));
      }
      for (const file of ["hostname", "hosts", "resolv.conf"]) {
        this.tracer?.emit({ op: "write", path: `${upper}/etc/${file}`, value: "" }, key);
        requests.push(this.agent.writeFile(`${upper}/etc/${file}`, ""));
      }
      await Promise.all(requests);
      await this.snapshotter.commit(key, active);
    } catch (error) {
      await this.snapshotter.remove(active).catch(() => {});
      throw error;
    }
    return key;
  }

  /** The container's writable layer and its own files; the shared init layer stays. */
  async #removeRootfs(id: string): Promise<void> {
    const dir = containerDir(id);
    const requests: Promise<unknown>[] = [];
    if (this.snapshotter.list().some((s) => s.name === id)) requests.push(this.snapshotter.remove(id));
    this.tracer?.emit({ op: "rm", path: dir, recursive: true }, id);
    requests.push(this.agent.remove(dir, { recursive: true }).catch(() => {}));
    await Promise.all(requests);
  }

  /** Starts a container by hand: its restart policy counts from zero again and a stop by hand is forgotten. */
  async start(ref: string): Promise<void> {
    const container = this.#find(ref);
    if (container.pendingRestart !== undefined && container.status === "exited") this.#cancelRestart(container);
    container.restartCount = 0;
    container.restartDelayMs = undefined;
    container.stoppedByUser = false;
    await this.#start(container);
  }

  async #start(container: Container): Promise<void> {
    const starting = this.#startTask(container);
    container.starting = starting;
    try {
      await starting;
    } finally {
      if (container.starting === starting) container.starting = undefined;
    }
  }

  async #startTask(container: Container): Promise<void> {
    const previous = container.status;
    this.#move(container, "start");
    let task: Task;
    try {
      if (container.wasi) task = await this.#startWasi(container, container.wasi);
      else {
        if (container.needsRootfs) await this.ensureRootfs(container.id);
        await this.volumes?.prepareStart(container.id, container.mounts);
        await this.#startNetwork(container);
        task = await this.#runner.start(
          container.id,
          container.spec,
          this.snapshotter.mounts(container.id),
          container.mounts,
        );
      }
    } catch (error) {
      if (!container.wasi) await this.networking?.tearDown(container.id).catch(() => {});
      container.status = previous === "created" ? "exited" : previous;
      if (previous === "created") {
        container.exit = {
          code: /exit code 126/.test(String(error)) ? 126 : 127,
          oomKilled: false,
          finishedAt: Date.now(),
          error: String((error as Error).message),
        };
      }
      // `--rm` covers a start that failed too (Docker removes it; a client waiting for the removal is answered).
      if (container.options.rm) await this.remove(container.id, { volumes: true }).catch(() => {});
      else this.#persist();
      throw error;
    }
    container.task = task;
    container.startedAt = Date.now();
    container.exit = undefined;
    container.stdin = task.process.stdin.getWriter();
    // Docker gives a process without -i nothing to read: it sees end-of-file at once. A terminal stays as it is.
    if (!container.options.openStdin && !container.options.tty) this.#closeStdin(container);
    container.logs.reopen();
    this.#event(container, "start");
    const drained = Promise.all([
      this.#collect(container, task.process.stdout, "stdout"),
      this.#collect(container, task.process.stderr, "stderr"),
    ]);
    container.exited = (async () => {
      // The guest's agent or kernel went away under the task: it ends with that error (not a hang).
      const status: { code: number; signal?: number; error?: Error } = await task.process.exit.catch(
        (error: Error) => ({ code: 255, error }),
      );
      await drained;
      // The run's last output is kept before anyone hears of its exit (a container removed at exit needs none).
      const logSaved = container.options.rm ? undefined : container.savedLog?.flush();
      const { oomKilled, cleanedUp } = container.wasi
        ? await this.#finishWasi(container.wasi)
        : await (async () => {
            this.#runner.traceExit(container.id, task.pid, status);
            await task.network;
            const finished = await this.#runner.finish(container.id, container.spec);
            // Its addresses, ports and sandbox go with its process, as dockerd releases them at stop.
            const network = this.networking?.tearDown(container.id).catch(() => {});
            return { ...finished, cleanedUp: Promise.all([finished.cleanedUp, network]).then(() => {}) };
          })();
      // A container that stays must be clean before it can be seen exited (and started again); one removed at once
      // sends its removal right behind the cgroup's rmdir and the umount.
      if (!container.options.rm) await cleanedUp;
      // Its files leave the guest's tmpfs for the engine's storage before it is seen exited, so a start in a later
      // guest has them (a guest that failed took them with it: the last saved ones stay).
      if (!status.error) await this.#keepUpperLayer(container, { live: false });
      // What it wrote to volumes leaves the guest's page cache for the engine's storage, so it survives the guest.
      // So do its writes to host directories (--allow-bind), which the host sees once they are out.
      if (container.mounts.some((mount) => mount.type === "volume" || mount.hostPath))
        await this.volumes?.sync().catch(() => {});
      const exit: ExitInfo = { code: status.code, oomKilled, finishedAt: Date.now() };
      if (status.signal) exit.signal = status.signal;
      if (status.error) exit.error = status.error.message;
      container.exit = exit;
      container.task = undefined;
      this.#closeStdin(container);
      await logSaved;
      container.logs.close();
      if (container.status !== "removed") this.#move(container, "exit");
      this.#event(container, "die", { exitCode: String(exit.code), ...(exit.oomKilled ? { oomKilled: "true" } : {}) });
      // Its exit is in the records before anyone waiting is told (a tab reloaded right after `docker run` returned
      // finds it exited with its code, not lost with the guest); a failed write is reported by saved().
      if (!container.options.rm) await this.#saving;
      for (const listener of [...this.#exits]) listener(container.id, exit);
      if (container.options.rm)
        await Promise.all([cleanedUp, this.remove(container.id, { volumes: true }).catch(() => {})]);
      // A task lost with its guest is not started again here: the engine on the next guest decides at its start.
      else if (!status.error) this.#restartByPolicy(container, "exit");
      return exit;
    })();
  }

  /**
   * A restored container's root in this guest: its image's layers, the init layer and a new writable layer holding
   * the files of its last saved one.
   */
  /**
   * A container read back from the records has no root in this guest until it starts; `docker diff`, `cp`, `export`
   * and `commit` need one before that: it is made now (its image's layers, its kept writable layer), once.
   * @example
   * await containers.ensureRootfs(id); // then snapshotter.mounts(id) answers
   */
  async ensureRootfs(ref: string): Promise<void> {
    const container = this.#find(ref);
    if (!container.needsRootfs || container.wasi) return;
    container.remaking ??= this.#remakeRootfs(container).finally(() => {
      container.remaking = undefined;
    });
    await container.remaking;
  }

  async #remakeRootfs(container: Container): Promise<void> {
    const details = await this.images.image(container.imageId).catch((error: unknown) => {
      throw new EngineError(
        "notFound",
        `cannot start container ${container.id.slice(0, 12)}: its image ${container.image} (${container.imageId}) is not in the image store any more: pull it again`,
        { cause: error },
      );
    });
    this.snapshotter.registerLayers(details.layers.map((layer) => layer.chainId));
    await this.#prepareRootfs(container.id, container.spec, details.layers.at(-1)?.chainId, container.options);
    if (this.records) {
      try {
        await restoreUpperLayer({
          agent: this.agent,
          store: this.records,
          id: container.id,
          upperDir: this.snapshotter.upperDir(container.id),
          tracer: this.tracer,
        });
      } catch (error) {
        await this.#removeRootfs(container.id).catch(() => {});
        throw error;
      }
    }
    container.needsRootfs = false;
  }

  /**
   * Brings up the container's network before its process starts: the namespace its spawn joins, and its /etc/hosts
   * and /etc/resolv.conf with its address and resolver.
   */
  async #startNetwork(container: Container): Promise<void> {
    if (!this.networking) return;
    const setup = await this.networking.setUp(
      {
        id: container.id,
        name: container.name,
        hostname: container.spec.hostname ?? container.id.slice(0, 12),
        exposedPorts: container.exposedPorts,
        request: networkRequest(container.options),
      },
      (ref) => this.#peer(ref),
    );
    const others = container.spec.linux.namespaces.filter((ns) => ns.type !== "network");
    if (setup.netns === "host") container.spec.linux.namespaces = others;
    else
      container.spec.linux.namespaces = [...others, { type: "network", ...(setup.netns ? { path: setup.netns } : {}) }];
    if (!setup.netns) return;
    const dir = containerDir(container.id);
    const writes: Promise<void>[] = [];
    for (const [file, value] of [
      ["hosts", setup.hosts],
      ["resolv.conf", setup.resolvConf],
    ] as const) {
      this.tracer?.emit({ op: "write", path: `${dir}/${file}`, value }, container.id);
      writes.push(this.agent.writeFile(`${dir}/${file}`, value));
    }
    await Promise.all(writes);
  }

  /** Another container, for `--network container:<ref>`. */
  #peer(ref: string): { id: string; pid?: number; running: boolean } {
    const other = this.#find(ref);
    const running = other.status === "running" || other.status === "paused";
    return { id: other.id, running, ...(other.task ? { pid: other.task.pid } : {}) };
  }

  async #startWasi(container: Container, wasi: NonNullable<Container["wasi"]>): Promise<Task> {
    if (!this.wasi) throw new EngineError("unavailable", "this engine has no WASI runtime to run wasi/wasm images");
    const { options, spec } = container;
    const task = await this.wasi.start(container.id, wasi.image, wasi.layer, {
      args: spec.process.args,
      env: spec.process.env,
      ...(options.memoryMax !== undefined ? { memoryMax: options.memoryMax } : {}),
      openStdin: options.openStdin || options.tty,
    });
    wasi.task = task;
    return task;
  }

  /** Keeps what the module wrote as the container's writable layer (a killed module's writes are lost). */
  async #finishWasi(wasi: NonNullable<Container["wasi"]>): Promise<{ oomKilled: boolean; cleanedUp: Promise<void> }> {
    const ended = await wasi.task!.ended;
    if (ended.root && this.wasi) wasi.layer = await this.wasi.layerAfter(wasi.image, ended.root);
    return { oomKilled: ended.oomKilled, cleanedUp: Promise.resolve() };
  }

  async #collect(container: Container, stream: ReadableStream<Uint8Array>, name: LogEntry["stream"]): Promise<void> {
    const reader = stream.getReader();
    try {
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        // Kept whether or not there is a store to save it to (`savedLog?.add(logs.append(…))` would skip the append).
        const entry = container.logs.append(name, next.value);
        container.savedLog?.add(entry);
        // A slow attached client slows the container (its writes block once the agent's window is used up).
        await container.logs.room();
      }
    } catch {
      // The agent went away; the exit handler reports it.
    }
  }

  /**
   * create + start; with `rm`, the container is removed once it exits. `exited` settles with the exit even when
   * `rm` has removed the container by then (as `docker run --rm` reports the code).
   */
  async run(image: string, options: RunOptions = {}, runtime = GUEST_RUNTIME): Promise<RunResult> {
    const created = await this.create(image, options, runtime);
    await this.start(created.id);
    const container = this.#containers.get(created.id);
    const exited = container?.exited ?? Promise.reject(new EngineError("notFound", `no such container: ${created.id}`));
    // With --rm a quick task may already be gone.
    return { ...(container ? this.#details(container) : { ...created, status: "removed" as const }), exited };
  }

  /**
   * Docker's `wait?condition=`: `not-running` settles at once unless a task runs, then at its exit; `next-exit` at
   * the next exit from now (a client waits before it starts the container); `removed` once the container is gone,
   * with its last exit. The wait begins when this is called, not when the promise is awaited.
   */
  waitFor(ref: string, condition: WaitCondition = "not-running"): Promise<ExitInfo> {
    const container = this.#find(ref);
    const id = container.id;
    if (condition === "not-running" && container.status !== "running" && container.status !== "paused") {
      return Promise.resolve(container.exit ?? { code: 0, oomKilled: false, finishedAt: Date.now() });
    }
    return new Promise<ExitInfo>((resolve) => {
      let last = container.exit;
      const onExit = (exited: string, exit: ExitInfo) => {
        if (exited !== id) return;
        last = exit;
        if (condition === "removed") return;
        this.#exits.delete(onExit);
        resolve(exit);
      };
      const onRemoved = (removed: string) => {
        if (removed !== id) return;
        this.#exits.delete(onExit);
        this.#removals.delete(onRemoved);
        resolve(last ?? { code: 0, oomKilled: false, finishedAt: Date.now() });
      };
      this.#exits.add(onExit);
      if (condition === "removed") this.#removals.add(onRemoved);
    });
  }

  /** Waits for the container's task to exit (at once if it is not running). */
  async wait(ref: string): Promise<ExitInfo> {
    const container = this.#find(ref);
    if (container.exited && (container.status === "running" || container.status === "paused")) {
      return container.exited;
    }
    if (container.exit) return container.exit;
    throw new EngineError("conflict", `container ${container.id.slice(0, 12)} has not been started`);
  }

  /** The TTY or pipes of the running task, to type into and resize (its output is in `logs`). */
  attach(ref: string): Pick<GuestProcess, "stdin" | "resize"> {
    const container = this.#find(ref);
    requireTask(container.status, "exec", container.id);
    const process = container.task!.process;
    const stdin = new WritableStream<Uint8Array>({
      write: (chunk) => this.writeStdin(container.id, chunk),
      close: () => this.closeStdin(container.id),
    });
    return { stdin, resize: (rows, cols) => process.resize(rows, cols) };
  }

  /**
   * Writes to the running task's stdin (every attached client shares it). Bytes for a task whose stdin is closed,
   * or for a container that is not running, are dropped, as a closed pipe would.
   */
  async writeStdin(ref: string, bytes: Uint8Array): Promise<void> {
    const writer = this.#find(ref).stdin;
    await writer?.write(bytes).catch(() => {});
  }

  /** Closes the running task's stdin: a process reading it sees end-of-file (`--interactive` with stdin once). */
  closeStdin(ref: string): void {
    this.#closeStdin(this.#find(ref));
  }

  #closeStdin(container: Container): void {
    const writer = container.stdin;
    container.stdin = undefined;
    writer?.close().catch(() => {});
  }

  /** Resizes the running task's terminal. */
  resize(ref: string, rows: number, cols: number): void {
    const container = this.#find(ref);
    requireTask(container.status, "exec", container.id);
    container.task!.process.resize(rows, cols);
  }

  /**
   * The output an attached client sees: from now until the current run ends or, when nothing runs, until the next
   * run ends (a client attaches, then starts the container).
   */
  attachOutput(ref: string): ReadableStream<LogEntry> {
    return this.#find(ref).logs.read({ live: true });
  }

  async exec(ref: string, argv: string[], options: ExecOptions = {}): Promise<GuestProcess> {
    const container = this.#find(ref);
    requireTask(container.status, "exec", container.id);
    this.#refuseWasi(container, "exec in");
    if (!argv.length) throw new EngineError("invalidArgument", "exec needs a command");
    const task = container.task!;
    await task.network;
    if (options.workdir !== undefined && !options.workdir.startsWith("/")) {
      throw new EngineError("invalidArgument", `invalid workdir "${options.workdir}": it must be absolute`);
    }
    const user =
      options.user !== undefined && options.user !== ""
        ? await this.#runner.resolveUser(container.id, container.spec, options.user)
        : (task.user ?? (await this.#runner.resolveUser(container.id, container.spec, "0")));
    return this.#runner.exec(container.id, container.spec, task, {
      argv,
      env: [...container.spec.process.env, ...(options.env ?? [])],
      user,
      ...(options.workdir !== undefined ? { workdir: options.workdir } : {}),
      ...(options.pty ? { pty: options.pty } : {}),
      ...(options.quiet ? { quiet: true } : {}),
      ...(options.privileged ? { privileged: true } : {}),
    });
  }

  async kill(ref: string, signal = 9): Promise<void> {
    const container = this.#find(ref);
    if (container.pendingRestart !== undefined && container.status === "exited") {
      // Nothing runs to take the signal: the kill cancels the restart its policy was waiting to make.
      container.stoppedByUser = true;
      this.#cancelRestart(container);
      this.#event(container, "kill", { signal: String(signal) });
      return;
    }
    requireTask(container.status, "kill", container.id);
    // A kill is a stop by hand: its restart policy leaves it stopped (dockerd's kill marks it so, whatever the signal).
    container.stoppedByUser = true;
    // A frozen task cannot act on a signal until thawed; SIGKILL is delivered anyway, others wait for unpause.
    this.#signal(container, signal);
    this.#event(container, "kill", { signal: String(signal) });
  }

  /** SIGTERM, then SIGKILL if the task is still running after `timeoutSeconds` (default: the --stop-timeout). */
  async stop(ref: string, options: { timeoutSeconds?: number } = {}): Promise<ExitInfo> {
    const container = this.#find(ref);
    if (container.pendingRestart !== undefined) {
      // Waiting to be restarted by its policy: a stop by hand cancels that, as dockerd's does.
      container.stoppedByUser = true;
      this.#cancelRestart(container);
      this.#event(container, "stop");
    }
    // A start under way is let finish: then there is a task to stop.
    await container.starting?.catch(() => {});
    if (container.status === "exited" || container.status === "created") return this.wait(container.id);
    container.stoppedByUser = true;
    requireTask(container.status, "stop", container.id);
    const exited = container.exited!;
    if (container.status === "paused") await this.unpause(container.id);
    this.#signal(container, 15);
    this.#event(container, "kill", { signal: "15" });
    const seconds = options.timeoutSeconds ?? container.options.stopTimeoutSeconds;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), seconds * 1000);
    });
    const first = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    if (first === "timeout" && container.task) {
      this.#signal(container, 9);
      this.#event(container, "kill", { signal: "9" });
    }
    const exit = await exited;
    this.#event(container, "stop");
    return exit;
  }

  /** Stops the container if it runs (`docker restart -t`), then starts it again. */
  async restart(ref: string, options: { timeoutSeconds?: number } = {}): Promise<void> {
    const container = this.#find(ref);
    if (container.status === "running" || container.status === "paused" || container.pendingRestart !== undefined)
      await this.stop(container.id, options);
    await this.start(container.id);
    this.#event(container, "restart");
  }

  /**
   * Starts a container again when its restart policy says so: at its task's end after a wait (doubling for each
   * restart in a row), or at once when the engine starts. A start that fails is an exit too, decided the same way.
   */
  #restartByPolicy(container: Container, when: "exit" | "engine-start"): void {
    const policy = container.options.restartPolicy ?? NO_RESTART;
    if (this.#closed || container.status !== "exited" || container.pendingRestart !== undefined) return;
    const last = {
      exitCode: container.exit?.code ?? 0,
      stoppedByUser: container.stoppedByUser,
      restartCount: container.restartCount,
    };
    if (!shouldRestart(policy, last, when)) return;
    const ran = (container.exit?.finishedAt ?? Date.now()) - (container.startedAt ?? 0);
    const delay = when === "engine-start" ? 0 : nextRestartDelay(container.restartDelayMs, ran);
    if (when === "exit") container.restartDelayMs = delay;
    this.tracer?.emit(
      {
        op: "restart-policy",
        policy: `${policy.name}${policy.maximumRetryCount ? `:${policy.maximumRetryCount}` : ""}`,
        exitCode: last.exitCode,
        restart: container.restartCount + 1,
        delayMs: delay,
      },
      container.id,
    );
    container.pendingRestart = setTimeout(() => {
      container.pendingRestart = undefined;
      if (container.status !== "exited" || !this.#containers.has(container.id)) return;
      container.restartCount += 1;
      this.#start(container).catch(() => this.#restartByPolicy(container, "exit"));
    }, delay);
    // Seen by `docker ps` and inspect as restarting.
    this.#persist();
  }

  #cancelRestart(container: Container): void {
    clearTimeout(container.pendingRestart);
    container.pendingRestart = undefined;
  }

  /**
   * The engine is stopping (or its guest failed): no restart policy starts anything any more, and the waits are
   * cancelled (the next engine decides at its start). Settles once the records are written.
   * @example
   * await containers.close();
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const container of this.#containers.values()) {
      if (container.pendingRestart !== undefined) this.#cancelRestart(container);
    }
    await this.saved();
  }

  /**
   * Starts what the restart policies bring back when the engine starts (after `restore`): `always` containers,
   * `unless-stopped` ones not stopped by hand, `on-failure` ones that failed (a task lost with the guest did).
   * Returns their ids; each starts in the background.
   * @example
   * containers.startByPolicy();
   */
  startByPolicy(): string[] {
    const started: string[] = [];
    for (const container of this.#containers.values()) {
      this.#restartByPolicy(container, "engine-start");
      if (container.pendingRestart !== undefined) started.push(container.id);
    }
    return started;
  }

  async pause(ref: string): Promise<void> {
    const container = this.#find(ref);
    this.#refuseWasi(container, "pause");
    this.#move(container, "pause");
    try {
      await this.#runner.freeze(container.id, container.spec, true);
    } catch (error) {
      container.status = "running";
      throw error;
    }
    this.#event(container, "pause");
  }

  async unpause(ref: string): Promise<void> {
    const container = this.#find(ref);
    this.#move(container, "unpause");
    await this.#runner.freeze(container.id, container.spec, false);
    this.#event(container, "unpause");
  }

  /** Removes a container that is not running (with `force`, kills it first), with its writable layer. */
  /** Removes a container; with `volumes` (`docker rm -v`, and `--rm`) its anonymous volumes go with it. */
  async remove(ref: string, options: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const container = this.#find(ref);
    if (container.pendingRestart !== undefined) {
      if (!options.force) {
        throw new EngineError(
          "conflict",
          `cannot remove container ${container.id.slice(0, 12)}: it is restarting (its restart policy starts it again): stop it first, or use docker rm -f`,
        );
      }
      this.#cancelRestart(container);
    }
    if (options.force) await container.starting?.catch(() => {});
    if (options.force && (container.status === "running" || container.status === "paused")) {
      // Removed by hand: its restart policy does not start it again.
      container.stoppedByUser = true;
      if (container.task) this.#signal(container, 9);
      await container.exited;
      if (!this.#containers.has(container.id)) return;
    }
    this.#move(container, "remove");
    this.#containers.delete(container.id);
    this.networking?.forget(container.id);
    const savedLog = container.savedLog;
    if (savedLog) {
      const removal = savedLog.remove().then(
        () => {
          this.#logRemovalError = undefined;
        },
        (error: unknown) => {
          this.#logRemovalError = error;
        },
      );
      this.#logRemovals.add(removal);
      void removal.finally(() => this.#logRemovals.delete(removal));
    }
    try {
      if (!container.wasi) {
        // A save of its files still under way lands first; then its saved files go with its root in the guest.
        await this.#layerSaves.get(container.id);
        this.#layerErrors.delete(container.id);
        const forgotten = this.records && forgetUpperLayer(this.records, container.id, this.tracer);
        await Promise.all([this.#removeRootfs(container.id), forgotten]);
      }
      await this.volumes?.detach(container.id, { removeAnonymous: options.volumes ?? false });
    } finally {
      // Gone from the list either way (a guest that failed took its files with it): whoever waits is told, once
      // the records no longer hold it (a tab reloaded right after `docker run --rm` returned does not find it).
      this.#event(container, "destroy");
      await this.#saving;
      for (const listener of [...this.#removals]) listener(container.id);
    }
  }

  /** The processes in the container's cgroup (`docker top`), each with its /proc/<pid>/stat fields and command line. */
  top(ref: string): Promise<ProcessInfo[]> {
    const container = this.#find(ref);
    requireTask(container.status, "kill", container.id);
    const wasi = container.wasi?.task;
    if (wasi) {
      // One "process": the module, on the CPU all the time it runs (USER_HZ ticks).
      const { cpuMicroseconds } = wasi.sample();
      return Promise.resolve([
        {
          pid: wasi.pid,
          ppid: 0,
          uid: 0,
          state: "R",
          ttyNr: 0,
          utime: Math.round(cpuMicroseconds / 10_000),
          stime: 0,
          startTime: 0,
          command: wasi.argv.join(" "),
        },
      ]);
    }
    return this.#runner.processes(container.id, container.spec);
  }

  /** One reading of the container's cgroup counters (`docker stats`): memory, CPU time, processes. */
  stats(ref: string): Promise<CgroupSample> {
    const container = this.#find(ref);
    requireTask(container.status, "kill", container.id);
    const wasi = container.wasi?.task;
    if (wasi) {
      const { memoryBytes, cpuMicroseconds } = wasi.sample();
      const sample: CgroupSample = {
        read: Date.now(),
        memoryCurrent: memoryBytes,
        memoryStat: {},
        cpuStat: { usage_usec: cpuMicroseconds, user_usec: cpuMicroseconds, system_usec: 0 },
        pidsCurrent: 1,
      };
      if (container.options.memoryMax !== undefined) sample.memoryMax = container.options.memoryMax;
      return Promise.resolve(sample);
    }
    return Promise.all([this.#runner.sample(container.id, container.spec), this.#networkCounters(container)]).then(
      ([sample, networks]) => (networks ? { ...sample, networks } : sample),
    );
  }

  /** Its endpoints' counters, from /proc/<pid>/net/dev of its task (in its network namespace); none without any. */
  async #networkCounters(container: Container): Promise<CgroupSample["networks"]> {
    const ifnames = this.networking?.interfacesOf(container.id) ?? [];
    if (!ifnames.length || !container.task) return undefined;
    const path = `/proc/${container.task.pid}/net/dev`;
    this.tracer?.emit({ op: "read", path }, container.id);
    const text = await this.agent.readFile(path).then(
      (bytes) => new TextDecoder().decode(bytes),
      () => "",
    );
    return endpointCounters(parseNetDev(text), ifnames);
  }

  /** Bytes in the container's writable layer (`du` of its upper dir, in KiB steps), for `docker system df`. */
  async diskUsage(ref: string): Promise<number> {
    const container = this.#find(ref);
    if (container.wasi) return layerSize(container.wasi.layer);
    const upper = this.snapshotter.upperDir(container.id);
    this.tracer?.emit({ op: "exec", argv: ["du", "-sk", upper] }, container.id);
    const { stdout } = await this.agent.run(["/bin/busybox", "du", "-sk", upper]);
    return Number(/^(\d+)/.exec(stdout)?.[1] ?? 0) * 1024;
  }

  /**
   * What the container changed in its filesystem (`docker diff`): each path of its writable layer, sorted, as added
   * (not in any layer below), changed (in a layer below too) or deleted (an overlay whiteout).
   */
  async changes(ref: string): Promise<FilesystemChange[]> {
    const container = this.#find(ref);
    if (container.wasi && this.wasi) {
      return layerChanges(await this.wasi.imageTree(container.wasi.image), container.wasi.layer);
    }
    await this.ensureRootfs(container.id);
    const upper = this.snapshotter.upperDir(container.id);
    const lowers = (this.snapshotter.mounts(container.id)[0]?.options ?? [])
      .find((option) => option.startsWith("lowerdir="))
      ?.slice("lowerdir=".length)
      .split(":")
      .filter(Boolean);
    this.tracer?.emit({ op: "exec", argv: ["find", upper, "-mindepth", "1"] }, container.id);
    const { stdout, code, stderr } = await this.agent.run([
      "/bin/busybox",
      "sh",
      "-c",
      CHANGES_SCRIPT,
      "changes",
      upper,
      ...(lowers ?? []),
    ]);
    if (code !== 0)
      throw new EngineError("internal", `could not list the changes of ${container.id.slice(0, 12)}: ${stderr.trim()}`);
    const changes: FilesystemChange[] = [];
    for (const line of stdout.split("\n")) {
      const match = /^([ACD]) (\/.*)$/.exec(line);
      if (match) changes.push({ kind: match[1] as FilesystemChange["kind"], path: match[2]! });
    }
    return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /**
   * The container's changes as a standard OCI layer tar (`docker commit`, a build's RUN step): its upper dir with
   * whiteouts as `.wh.` files and replaced directories marked opaque.
   */
  async layer(ref: string): Promise<UpperDirDiff> {
    const container = this.#find(ref);
    await this.ensureRootfs(container.id);
    return diffUpperDir({
      agent: this.agent,
      upperDir: this.snapshotter.upperDir(container.id),
      tracer: this.tracer,
      subject: container.id,
    });
  }

  /** The guest directory of the container's cgroup. */
  cgroupOf(ref: string): string {
    return cgroupDir(this.#find(ref).spec);
  }

  list(options: { all?: boolean } = {}): ContainerSummary[] {
    return [...this.#containers.values()]
      .filter((c) => options.all || c.status === "running" || c.status === "paused")
      .map((c) => this.#summary(c));
  }

  inspect(ref: string): ContainerDetails {
    return this.#details(this.#find(ref));
  }

  logs(ref: string, options: LogReadOptions = {}): ReadableStream<LogEntry> {
    return this.#find(ref).logs.read(options);
  }

  #summary(c: Container): ContainerSummary {
    return {
      id: c.id,
      name: c.name,
      image: c.image,
      imageId: c.imageId,
      command: c.spec.process.args,
      status: c.status,
      created: c.created,
      labels: c.labels,
      exposedPorts: c.exposedPorts,
      runtime: c.runtime,
      restarting: c.pendingRestart !== undefined,
      restartCount: c.restartCount,
      network: {
        mode: c.options.networkMode,
        networks: this.networking?.networksOf(c.id) ?? [],
        ports: this.networking?.publishedOf(c.id) ?? [],
      },
    };
  }

  #details(c: Container): ContainerDetails {
    const details: ContainerDetails = {
      ...this.#summary(c),
      spec: c.spec,
      options: c.options,
      entrypoint: c.entrypoint,
      cmd: c.cmd,
      snapshot: { key: c.id, upperDir: `${this.snapshotter.root}` },
      graphDriver: { lowerDir: "", upperDir: "", workDir: "", mergedDir: "" },
      mounts: c.mounts,
    };
    try {
      details.snapshot.upperDir = this.snapshotter.upperDir(c.id);
      const options = this.snapshotter.mounts(c.id)[0]?.options ?? [];
      const option = (name: string) => options.find((o) => o.startsWith(`${name}=`))?.slice(name.length + 1) ?? "";
      details.graphDriver = {
        lowerDir: option("lowerdir"),
        upperDir: option("upperdir"),
        workDir: option("workdir"),
        mergedDir: `${containerDir(c.id)}/${c.spec.root.path}`,
      };
    } catch {
      // Removed with the container.
    }
    if (c.task) details.pid = c.task.pid;
    if (c.startedAt !== undefined) details.startedAt = c.startedAt;
    if (c.exit) details.exit = c.exit;
    return details;
  }
}

/** The network part of a container's options. */
function networkRequest(options: ValidRunOptions): ContainerNetworkRequest {
  return {
    networkMode: options.networkMode,
    endpoints: options.endpoints,
    portBindings: options.portBindings,
    publishAllPorts: options.publishAllPorts,
    extraHosts: options.extraHosts,
    dns: options.dns,
    dnsSearch: options.dnsSearch,
    dnsOptions: options.dnsOptions,
  };
}

/** A WebAssembly module has no network of its own: asking for one is refused rather than ignored. */
function refuseWasiNetworking(options: ValidRunOptions): void {
  const asked =
    !["default", "none", "bridge"].includes(options.networkMode) ||
    Object.keys(options.portBindings).length > 0 ||
    options.publishAllPorts;
  if (asked) {
    throw new EngineError(
      "invalidArgument",
      "a WebAssembly (wasi) container has no network: leave out --network, -p and -P (WASI has no sockets here)",
    );
  }
}
