// Running containers in the guest: the part of Drydock behind `docker create/start/run/exec/ps/inspect/logs/stop/
// kill/rm`. It joins a booted Drydock (the guest and its agent) with an ImageService (the pulled images): the image
// store's layers are served to the guest over 9P, stacked by the overlay snapshotter, and run by the runtime.
import type { GuestProcess } from "./agent/index.ts";
import { CLUSTER_BLOCKS } from "./cluster/routes.ts";
import type { MetadataStore } from "./content/metadata.ts";
import type { Drydock } from "./drydock.ts";
import { EngineError } from "./errors.ts";
import type { ContainerEventAction, EventLog } from "./events.ts";
import { BINDS_DIR, createShareServer, imageStoreLayers, type ServedTree } from "./fs9p/index.ts";
import type { ImageService } from "./image-service.ts";
import {
  AgentGuestNetwork,
  type DnsUpstream,
  type EndpointConfig,
  type GuestNetwork,
  Networking,
} from "./network/index.ts";
import { type EgressEmulator, resolveViaRelay, traceEgress } from "./network/relay.ts";
import {
  formatPlatform,
  GUEST_PLATFORM,
  type Platform,
  parsePlatformSpecifier,
  platformMatches,
  WASI_PLATFORM,
} from "./oci/index.ts";
import {
  type BlockIo,
  type CgroupSample,
  type ContainerDetails,
  ContainerFiles,
  type ContainerNetworkInfo,
  type ContainerPathStat,
  type ContainerRootSource,
  type ContainerSummary,
  Containers,
  containerDir,
  type ExecOptions,
  type ExitInfo,
  type FilesystemChange,
  GUEST_RUNTIME,
  type LogEntry,
  type LogReadOptions,
  type ProcessInfo,
  type RunOptions,
  type RunResult,
  type WaitCondition,
} from "./runtime/index.ts";
import {
  type LayerShare,
  ninePLayerShare,
  OverlaySnapshotter,
  shareVolumes,
  type UpperDirDiff,
} from "./snapshots/index.ts";
import { type TraceEvent, Tracer } from "./trace/index.ts";
import {
  type HostBindResolver,
  ImageDriver,
  VOLUMES_ROOT,
  VolumeStore,
  type VolumeStoreStorage,
  VolumeTree,
} from "./volumes/index.ts";
import { WASI_RUNTIME, WasiRuntime, type WasiWorkerFactory } from "./wasi/index.ts";

export type { ContainerPathStat, ContainerStatus, RuntimeSpec } from "./runtime/index.ts";
export { createRuntimeSpec, formatLogLine, GUEST_RUNTIME, validateRunOptions } from "./runtime/index.ts";
export { type Mount, OverlaySnapshotter, type SnapshotInfo } from "./snapshots/index.ts";
export { commandOf, type TraceAction, Tracer } from "./trace/index.ts";
export { WASI_RUNTIME, type WasiWorkerFactory } from "./wasi/index.ts";
export type {
  BlockIo,
  CgroupSample,
  ContainerDetails,
  ContainerNetworkInfo,
  ContainerSummary,
  ExecOptions,
  ExitInfo,
  FilesystemChange,
  LogEntry,
  LogReadOptions,
  ProcessInfo,
  RunOptions,
  TraceEvent,
  WaitCondition,
};

/** The guest the containers run in, as `docker info` describes the host. */
export interface HostInfo {
  /** The guest kernel's release (`6.1.…`). */
  kernelVersion: string;
  /** CPUs the guest sees (processor lines of /proc/cpuinfo). */
  ncpu: number;
  /** The guest's memory in bytes (MemTotal of /proc/meminfo). */
  memTotal: number;
}

export interface ContainerServiceOptions {
  /** Shared with other services so one subscriber sees every step; a new one by default. */
  tracer?: Tracer;
  /**
   * Where image layers are in the guest. By default the image store's layers are served over 9P (this replaces
   * the machine's 9P handler) and mounted at /run/drydock/layers.
   */
  layers?: LayerShare;
  /** Where container events go; the image service's by default, so `docker events` sees both in one stream. */
  events?: EventLog;
  /**
   * Makes the worker each WASI module runs in (a Web Worker in the page, `nodeWasiWorkers()` in Node). Without it,
   * wasi/wasm images cannot run and say so.
   */
  wasiWorkers?: WasiWorkerFactory;
  /**
   * The volumes' files, kept in the engine's storage and served to the guest on the layer share
   * (`openVolumeTree(store)`; OPFS in the page, the data root in Node). In memory by default. Unused with `layers`.
   */
  volumes?: VolumeTree;
  /**
   * Host directories containers may bind (the Node daemon's `--allow-bind`, engine/node/host-binds.ts): served to the
   * guest under the share's `binds` directory. Without it every bind is of the guest's own paths. Unused with `layers`.
   */
  hostBinds?: { resolver: HostBindResolver; tree: ServedTree };
  /** The guest's side of container networking; without it containers have a loopback interface only. */
  network?: GuestNetwork;
  /** Where the embedded resolver sends names it does not know (the relay's DNS); none: SERVFAIL. */
  dnsUpstream?: DnsUpstream;
  /** The block this guest's container addresses come from (a node's, e.g. 10.2.0.0/16); dockerd's pools by default. */
  addressSpace?: string;
  /**
   * Where the container records are kept between runs of the engine (containers.json); the image store's metadata
   * store by default (OPFS in the page, the data root in Node), so containers come back after a restart or reload.
   * `false`: in memory only.
   */
  records?: MetadataStore | false;
}

/** The runtimes `docker info` lists and `--runtime` takes, with what each runs. */
export const RUNTIMES: Readonly<Record<string, { path: string; platform: Platform }>> = {
  [GUEST_RUNTIME]: { path: "drydockd (the v86 guest)", platform: GUEST_PLATFORM },
  [WASI_RUNTIME]: { path: "@bjorn3/browser_wasi_shim", platform: WASI_PLATFORM },
};

/** Names Docker users type for the default runtime. */
const GUEST_RUNTIME_ALIASES = ["runc", "io.containerd.runc.v2"];

/**
 * Containers in a booted guest, from images in an ImageService.
 * @example
 * const drydock = await bootDrydock();
 * const images = await openNodeImageService(dir);
 * await images.pull("busybox");
 * const containers = ContainerService.open(drydock, images);
 * containers.trace((event) => console.log(event.command));
 * const { id } = await containers.run("busybox", { cmd: ["echo", "hi"] });
 * const { code } = await containers.wait(id); // 0; `containers.logs(id)` holds "hi\n"
 */
export class ContainerService {
  #host: Promise<HostInfo> | undefined;
  /**
   * Settles once the containers kept by an earlier run of the engine are back (the API waits for it before it
   * answers); rejects when their records cannot be read.
   */
  readonly ready: Promise<void>;

  private constructor(
    readonly containers: Containers,
    readonly snapshotter: OverlaySnapshotter,
    readonly tracer: Tracer,
    readonly events: EventLog,
    readonly drydock: Drydock,
    readonly wasi: WasiRuntime | undefined,
    /** The volumes (`docker volume …`, `-v`), kept in the guest by the local driver. */
    readonly volumes: VolumeStore,
    /** The networks (`docker network …`, `--network`, `-p`) and each running container's endpoints. */
    readonly networking: Networking,
  ) {
    // The kept containers are back; those their restart policy brings back start in the background.
    this.ready = containers.restore().then(() => {
      containers.startByPolicy();
    });
    // Seen by whoever awaits `ready`; not an unhandled rejection meanwhile.
    this.ready.catch(() => {});
  }

  /**
   * Wires the guest to the image store.
   * @example
   * const containers = ContainerService.open(drydock, images);
   */
  static open(drydock: Drydock, images: ImageService, options: ContainerServiceOptions = {}): ContainerService {
    const tracer = options.tracer ?? new Tracer();
    let layers = options.layers;
    let volumeStorage: VolumeStoreStorage | undefined;
    if (!layers) {
      const tree = options.volumes ?? VolumeTree.inMemory();
      const share = createShareServer(
        imageStoreLayers(images.store),
        tree,
        options.hostBinds ? { binds: options.hostBinds.tree } : {},
      );
      drydock.machine.set9pHandler(share.handler);
      layers = ninePLayerShare(drydock.agent, tracer, undefined, true);
      volumeStorage = { tree, ready: shareVolumes(drydock.agent, layers, VOLUMES_ROOT, tracer) };
      if (options.hostBinds)
        volumeStorage.hostBinds = { resolver: options.hostBinds.resolver, root: `${layers.root}/${BINDS_DIR}` };
    }
    const snapshotter = new OverlaySnapshotter({ agent: drydock.agent, layers, tracer });
    const events = options.events ?? images.events;
    const wasi = options.wasiWorkers
      ? new WasiRuntime({ images: images.store, workers: options.wasiWorkers, tracer })
      : undefined;
    const volumes = new VolumeStore(drydock.agent, tracer, VOLUMES_ROOT, volumeStorage);
    volumes.addDriver(
      new ImageDriver(
        drydock.agent,
        `${VOLUMES_ROOT}-image`,
        {
          layers: async (ref) => (await images.image(ref)).layers.map((layer) => layer.chainId),
          imageId: async (ref) => (await images.image(ref)).record.config.digest,
          view: (key, layers) => {
            snapshotter.registerLayers(layers);
            return snapshotter.view(key, layers.at(-1) ?? "");
          },
          release: (key) => snapshotter.remove(key),
        },
        tracer,
      ),
    );
    // Every connection out of the guest (through the relay, refused, or with no relay) is a trace event.
    traceEgress(drydock.machine.emulator as unknown as EgressEmulator, drydock.relay, tracer);
    // Docker's default: every container on the docker0 bridge, made by drydockd (protocol 3).
    const guest = options.network ?? new AgentGuestNetwork(drydock.agent, tracer);
    const networking = new Networking({
      guest,
      // A node of a cluster: its containers reach the other nodes' by their own addresses (routed, not masqueraded).
      ...(options.addressSpace ? { addressSpace: options.addressSpace, routed: CLUSTER_BLOCKS } : {}),
      // Names the engine does not know go to the relay's resolver (SERVFAIL naming it when there is none).
      upstream: options.dnsUpstream ?? ((query) => resolveViaRelay(drydock.relay, query)),
      // The files bound over a container's /etc/hosts and resolv.conf, edited in place by `network connect`/`disconnect`.
      files: {
        read: async (id, file) => new TextDecoder().decode(await drydock.agent.readFile(`${containerDir(id)}/${file}`)),
        write: (id, file, text) => {
          tracer.emit({ op: "write", path: `${containerDir(id)}/${file}`, value: text }, id);
          return drydock.agent.writeFile(`${containerDir(id)}/${file}`, text);
        },
      },
    });
    return new ContainerService(
      new Containers(
        drydock.agent,
        images,
        snapshotter,
        tracer,
        events,
        wasi,
        volumes,
        networking,
        options.records === false ? undefined : (options.records ?? images.store.metadata),
      ),
      snapshotter,
      tracer,
      events,
      drydock,
      wasi,
      volumes,
      networking,
    );
  }

  /**
   * The runtime a container of `image` gets, chosen once, here, from the image's platform: wasi/wasm images run as
   * WebAssembly modules, the rest in the guest. `--runtime` may name the one that fits; `--platform` must match the
   * image (a mismatch is Docker's "No such image", so the CLI pulls the platform asked for and tries again).
   * @example
   * await containers.runtimeFor("localhost:5000/app", { platform: "wasi/wasm" }); // "wasi"
   */
  async runtimeFor(image: string, options: Pick<RunOptions, "runtime" | "platform"> = {}): Promise<string> {
    const { config } = await this.containers.images.image(image);
    const platform: Platform = { os: config.os, architecture: config.architecture };
    if (options.platform) {
      const wanted = parsePlatformSpecifier(options.platform);
      if (!platformMatches(platform, wanted)) {
        throw new EngineError(
          "notFound",
          `No such image: ${image} (the image with this reference is ${formatPlatform(platform)}; wanted ${formatPlatform(wanted)})`,
        );
      }
    }
    const isWasi = platformMatches(platform, WASI_PLATFORM);
    let runtime = isWasi ? WASI_RUNTIME : GUEST_RUNTIME;
    if (options.runtime) {
      runtime = GUEST_RUNTIME_ALIASES.includes(options.runtime) ? GUEST_RUNTIME : options.runtime;
      if (!(runtime in RUNTIMES))
        throw new EngineError("invalidArgument", `unknown or invalid runtime name: ${options.runtime}`);
      if (isWasi !== (runtime === WASI_RUNTIME)) {
        throw new EngineError(
          "invalidArgument",
          `the ${runtime} runtime runs ${formatPlatform(RUNTIMES[runtime]!.platform)} images, and ${image} is ${formatPlatform(platform)}: leave out --runtime and the image's platform chooses`,
        );
      }
    }
    if (runtime === WASI_RUNTIME && !this.wasi) {
      throw new EngineError(
        "unavailable",
        "this engine was started without a WASI runtime, so it cannot run wasi/wasm images",
      );
    }
    return runtime;
  }

  /**
   * The guest as a host: kernel release, CPUs and memory (read from the guest once).
   * @example
   * const { kernelVersion, ncpu, memTotal } = await containers.host();
   */
  host(): Promise<HostInfo> {
    this.#host ??= (async () => {
      const agent = this.drydock.agent;
      const decoder = new TextDecoder();
      const [meminfo, cpuinfo] = await Promise.all([
        agent.readFile("/proc/meminfo").then((bytes) => decoder.decode(bytes)),
        agent.readFile("/proc/cpuinfo").then(
          (bytes) => decoder.decode(bytes),
          () => "",
        ),
      ]);
      return {
        kernelVersion: agent.hello.kernel.split(" ")[0] ?? "",
        ncpu: Math.max(1, (cpuinfo.match(/^processor\s*:/gm) ?? []).length),
        memTotal: Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)?.[1] ?? 0) * 1024,
      };
    })().catch((error: unknown) => {
      this.#host = undefined;
      throw error;
    });
    return this.#host;
  }

  /**
   * Settles once every container change so far is written to the engine's storage, and what running containers
   * wrote to volumes is out of the guest's page cache (call before the engine stops; a failed guest has nothing
   * left to write).
   * @example
   * await containers.saved();
   */
  async saved(): Promise<void> {
    await this.volumes.sync().catch(() => {});
    await this.containers.saved();
  }

  /**
   * The engine stops using this service (a daemon stopping, a failed guest replaced): restart policies start
   * nothing more, and every record and volume write is done when this settles.
   * @example
   * await containers.close();
   */
  async close(): Promise<void> {
    await this.volumes.sync().catch(() => {});
    await this.containers.close();
  }

  /**
   * Calls `listener` with every step the engine takes, phrased as the command behind it; returns the function that
   * unsubscribes.
   * @example
   * const stop = containers.trace((event) => terminal.writeln(`$ ${event.command}`));
   */
  trace(listener: (event: TraceEvent) => void): () => void {
    return this.tracer.subscribe(listener);
  }

  /**
   * Creates a container from an image (`docker create`): its runtime spec and writable layer; nothing runs yet.
   * Throws notFound for an image that was not pulled, invalidArgument for a bad option. With `keepFiles: false` its
   * writable layer is not saved to the engine's storage when it stops (a build step's container).
   * @example
   * const { id } = await containers.create("busybox", { cmd: ["sleep", "60"], memory: "32m" });
   */
  async create(
    image: string,
    options: RunOptions = {},
    extra: { keepFiles?: boolean } = {},
  ): Promise<ContainerDetails> {
    return this.containers.create(image, options, await this.runtimeFor(image, options), extra);
  }

  /**
   * Starts a created or exited container's process (`docker start`). A command that cannot be found throws
   * notFound and leaves the container exited with code 127.
   * @example
   * await containers.start(id);
   */
  start(id: string): Promise<void> {
    return this.containers.start(id);
  }

  /**
   * Creates and starts a container (`docker run`); with `rm: true` it is removed once it exits. `exited` settles
   * with its exit code even when `rm` has removed it.
   * @example
   * const { exited } = await containers.run("busybox", { cmd: ["true"], rm: true });
   * const { code } = await exited;
   */
  async run(image: string, options: RunOptions = {}): Promise<RunResult> {
    return this.containers.run(image, options, await this.runtimeFor(image, options));
  }

  /**
   * Runs another process in a running container's namespaces, root and cgroup (`docker exec`).
   * @example
   * const proc = await containers.exec(id, ["ps"]);
   * console.log(await new Response(proc.stdout).text());
   */
  exec(id: string, argv: string[], options: ExecOptions = {}): Promise<GuestProcess> {
    return this.containers.exec(id, argv, options);
  }

  /**
   * The terminal (or pipes) of a running container, to type into and resize; its output is in `logs`.
   * @example
   * const { stdin } = containers.attach(id);
   * await stdin.getWriter().write(new TextEncoder().encode("ls\n"));
   */
  attach(id: string): Pick<GuestProcess, "stdin" | "resize"> {
    return this.containers.attach(id);
  }

  /**
   * The container's changes as a standard OCI layer tar, for `docker commit` and a build's RUN steps.
   * @example
   * const { tar, deleted } = await containers.layer(id);
   */
  layer(id: string): Promise<UpperDirDiff> {
    return this.containers.layer(id);
  }

  /**
   * Containers (`docker ps`; `all` includes created and exited ones).
   * @example
   * for (const c of containers.list({ all: true })) console.log(c.id.slice(0, 12), c.image, c.status);
   */
  list(options: { all?: boolean } = {}): ContainerSummary[] {
    return this.containers.list(options);
  }

  /**
   * Everything about one container, by ID, ID prefix or name (`docker inspect`).
   * @example
   * const { status, exit } = containers.inspect("3f2a");
   */
  inspect(id: string): ContainerDetails {
    return this.containers.inspect(id);
  }

  /**
   * The container's output with the time of each chunk (`docker logs`); `follow` keeps the stream open until it
   * exits.
   * @example
   * for (const reader = containers.logs(id, { follow: true }).getReader(); ; ) {
   *   const { value, done } = await reader.read();
   *   if (done) break;
   *   process.stdout.write(value.data);
   * }
   */
  logs(id: string, options: LogReadOptions = {}): ReadableStream<LogEntry> {
    return this.containers.logs(id, options);
  }

  /**
   * Waits until the container's process exits: its code, and whether the OOM killer ended it.
   * @example
   * const { code, oomKilled } = await containers.wait(id);
   */
  wait(id: string): Promise<ExitInfo> {
    return this.containers.wait(id);
  }

  /**
   * Docker's `wait?condition=`: `not-running` (now, or at the running task's exit), `next-exit` (the next exit from
   * now, so a client can wait before it starts the container) or `removed`. The wait begins at the call.
   * @example
   * const exited = containers.waitFor(id, "next-exit");
   * await containers.start(id);
   * const { code } = await exited;
   */
  waitFor(id: string, condition: WaitCondition = "not-running"): Promise<ExitInfo> {
    return this.containers.waitFor(id, condition);
  }

  /**
   * The output an attached client sees (`docker attach`): from now until the current run ends, or, when nothing
   * runs, until the next run ends.
   * @example
   * const output = containers.attachOutput(id);
   * await containers.start(id);
   * for await (const entry of output) process.stdout.write(entry.data);
   */
  attachOutput(id: string): ReadableStream<LogEntry> {
    return this.containers.attachOutput(id);
  }

  /**
   * Writes to the running container's stdin (its terminal, or its stdin pipe when created with `openStdin`).
   * @example
   * await containers.writeStdin(id, new TextEncoder().encode("echo hi\n"));
   */
  writeStdin(id: string, bytes: Uint8Array): Promise<void> {
    return this.containers.writeStdin(id, bytes);
  }

  /**
   * Closes the running container's stdin: a process reading it sees end-of-file.
   * @example
   * containers.closeStdin(id); // `cat` in the container now exits
   */
  closeStdin(id: string): void {
    this.containers.closeStdin(id);
  }

  /**
   * Resizes the running container's terminal.
   * @example
   * containers.resize(id, 40, 120);
   */
  resize(id: string, rows: number, cols: number): void {
    this.containers.resize(id, rows, cols);
  }

  /**
   * What the container changed in its filesystem, from its writable layer (`docker diff`).
   * @example
   * for (const { kind, path } of await containers.changes(id)) console.log(kind, path); // A /root/notes.txt
   */
  changes(id: string): Promise<FilesystemChange[]> {
    return this.containers.changes(id);
  }

  /**
   * The processes in the container (`docker top`).
   * @example
   * for (const p of await containers.top(id)) console.log(p.pid, p.command);
   */
  top(id: string): Promise<ProcessInfo[]> {
    return this.containers.top(id);
  }

  /**
   * One reading of the container's cgroup counters (`docker stats`).
   * @example
   * const { memoryCurrent, cpuStat, pidsCurrent } = await containers.stats(id);
   */
  stats(id: string): Promise<CgroupSample> {
    return this.containers.stats(id);
  }

  /**
   * Bytes the container has written to its own layer (`docker system df`, `docker ps -s`).
   * @example
   * const bytes = await containers.diskUsage(id);
   */
  diskUsage(id: string): Promise<number> {
    return this.containers.diskUsage(id);
  }

  /** Where a container's root is for copying files: its mounted root while it runs, else its overlay's mounts. */
  async #rootSource(id: string): Promise<{ source: ContainerRootSource; id: string; name: string }> {
    // A container kept from an earlier engine gets its root in this guest first.
    await this.containers.ensureRootfs(id);
    const details = this.containers.inspect(id);
    const source: ContainerRootSource =
      details.status === "running" || details.status === "paused"
        ? { running: `${containerDir(details.id)}/rootfs` }
        : { mounts: this.snapshotter.mounts(details.id) };
    return { source, id: details.id, name: details.name };
  }

  #files(): ContainerFiles {
    return new ContainerFiles(this.drydock.agent, this.tracer);
  }

  /**
   * Stat of a path in the container, its last component not followed (`HEAD /containers/{id}/archive`).
   * @example
   * const { mode, size } = await containers.statPath(id, "/etc/hostname");
   */
  async statPath(id: string, path: string): Promise<ContainerPathStat> {
    const { source, id: full, name } = await this.#rootSource(id);
    const { resolved: _resolved, ...stat } = await this.#files().stat(full, source, path, name);
    return stat;
  }

  /**
   * A path of the container as a tar, with its stat (`docker cp CONTAINER:PATH -`): modes, owners, symlinks kept.
   * @example
   * const { stat, tar } = await containers.archivePath(id, "/etc");
   */
  async archivePath(id: string, path: string): Promise<{ stat: ContainerPathStat; tar: ReadableStream<Uint8Array> }> {
    const { source, id: full, name } = await this.#rootSource(id);
    return this.#files().archive(full, source, path, name);
  }

  /**
   * Extracts a tar into a directory of the container (`docker cp - CONTAINER:DIR`); `copyUIDGID` keeps the
   * archive's owners (`docker cp -a`), else root owns what is copied.
   * @example
   * await containers.extractArchive(id, "/tmp", tarStream, { copyUIDGID: true });
   */
  async extractArchive(
    id: string,
    path: string,
    tar: ReadableStream<Uint8Array>,
    options: { copyUIDGID?: boolean } = {},
  ): Promise<void> {
    const { source, id: full, name } = await this.#rootSource(id);
    return this.#files().extract(full, source, path, name, tar, options);
  }

  /**
   * The container's whole filesystem as a tar (`docker export`).
   * @example
   * const tar = await containers.exportFilesystem(id);
   */
  async exportFilesystem(id: string): Promise<ReadableStream<Uint8Array>> {
    const { source, id: full } = await this.#rootSource(id);
    return this.#files().export(full, source);
  }

  /**
   * Stops the container if it runs, then starts it again (`docker restart -t`).
   * @example
   * await containers.restart(id, { timeoutSeconds: 1 });
   */
  restart(id: string, options: { timeoutSeconds?: number } = {}): Promise<void> {
    return this.containers.restart(id, options);
  }

  /**
   * Records an event about a container that the API saw happen (an attach, an exec), for `docker events`.
   * @example
   * containers.event(id, "attach");
   */
  event(id: string, action: ContainerEventAction, attributes: Record<string, string> = {}): void {
    this.containers.event(id, action, attributes);
  }

  /**
   * SIGTERM, then SIGKILL after the timeout (`docker stop -t`).
   * @example
   * await containers.stop(id, { timeoutSeconds: 2 });
   */
  stop(id: string, options: { timeoutSeconds?: number } = {}): Promise<ExitInfo> {
    return this.containers.stop(id, options);
  }

  /**
   * Sends a signal to the container's process (`docker kill`; SIGKILL by default).
   * @example
   * await containers.kill(id, 15);
   */
  kill(id: string, signal = 9): Promise<void> {
    return this.containers.kill(id, signal);
  }

  /**
   * Freezes every process of the container (`docker pause`, cgroup.freeze).
   * @example
   * await containers.pause(id);
   */
  pause(id: string): Promise<void> {
    return this.containers.pause(id);
  }

  /**
   * Thaws a paused container (`docker unpause`).
   * @example
   * await containers.unpause(id);
   */
  unpause(id: string): Promise<void> {
    return this.containers.unpause(id);
  }

  /**
   * Connects a container to a network (`docker network connect`): at once if it runs, else from its next start.
   * @example
   * await containers.connect("backend", "web", { aliases: ["api"] });
   */
  connect(network: string, container: string, config: EndpointConfig = { aliases: [] }): Promise<void> {
    const details = this.containers.inspect(container);
    const running = details.status === "running" || details.status === "paused";
    return this.networking.connect(network, { id: details.id, name: details.name, running }, config);
  }

  /**
   * Disconnects a container from a network (`docker network disconnect`).
   * @example
   * await containers.disconnect("backend", "web");
   */
  disconnect(network: string, container: string): Promise<void> {
    const details = this.containers.inspect(container);
    return this.networking.disconnect(network, { id: details.id, name: details.name });
  }

  /**
   * Removes a container and its writable layer (`docker rm`; `force` kills a running one first).
   * @example
   * await containers.remove(id, { force: true });
   */
  remove(id: string, options: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    return this.containers.remove(id, options);
  }
}
