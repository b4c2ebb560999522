// The inspector's facts about one container, read where they live: the guest's /proc and cgroup files, the overlay
// mount the container's root really is, and the image store's records. Nothing is taken from what the engine
// remembers having asked for, so a learner sees what the kernel did.
import type { ContainerService } from "../container-service.ts";
import type { ImageService } from "../image-service.ts";

/** One lower layer of a container's root, base first. */
export interface InspectedLayer {
  chainId: string;
  diffId: string;
  /** The compressed blob's digest, as the registry names it. */
  digest: string;
  /** Bytes of the compressed blob, and of the unpacked tar. */
  compressedSize: number;
  size: number;
  /** The history step that made it (`/bin/sh -c #(nop) ADD file:… in /`). */
  createdBy: string;
  /** Other stored images whose stacks hold this layer too. */
  sharedWith: string[];
  /** Where the overlay mount of the running container reads it in the guest, if it runs. */
  lowerDir?: string;
}

export interface InspectedProcess {
  /** The pid as the guest sees it, and as the container sees it (its own pid namespace: 1 is its init). */
  guestPid: number;
  containerPid: number;
  /** The parent, in the container's numbering (0: outside the container). */
  containerPpid: number;
  command: string;
}

export interface InspectedNamespace {
  type: string;
  /** The namespace links (`pid:[4026532198]`) of the container's init and of the guest's init. */
  container: string;
  guest: string;
}

export interface ContainerInspection {
  id: string;
  name: string;
  image: string;
  status: string;
  /** The init's pid in the guest, while it runs. */
  pid?: number;
  layers: InspectedLayer[];
  /** The writable layer: its directory in the guest and what `docker diff` lists in it. */
  upper: { dir: string; changes: { kind: "A" | "C" | "D"; path: string }[] };
  /** The root's overlay mount options as /proc/<pid>/mountinfo shows them. */
  overlay?: string;
  namespaces: InspectedNamespace[];
  processes: InspectedProcess[];
  /** The UTS namespace's host name (read inside it), the container's mounts and network interfaces. */
  hostname?: string;
  mounts: { target: string; type: string; source: string }[];
  interfaces: { name: string; rxBytes: number; txBytes: number }[];
}

/** A reading of the container's cgroup, with the limits the cgroup itself carries. */
export interface CgroupReading {
  /** performance.now() of the reading. */
  at: number;
  memoryCurrent: number;
  /** undefined: no limit ("max"). */
  memoryMax?: number;
  /** memory.peak: the most the cgroup has held since it was made, so a climb between two readings still shows. */
  memoryPeak: number;
  /** CPU time used so far, in microseconds (cpu.stat usage_usec). */
  cpuUsageUsec: number;
  /** The CPU limit as cpu.max says it (quota / period), in CPUs; undefined: none. */
  cpuLimit?: number;
  pidsCurrent: number;
  pidsMax?: number;
  /** memory.events oom_kill: how many processes the OOM killer has killed in the cgroup. */
  oomKills: number;
}

/**
 * One guest script for the container whose init is $1: namespace links beside the guest's own, every process in the
 * same pid namespace with its NSpid line, the host name read inside the UTS namespace, and the container's mounts and
 * network interfaces from its own /proc/<pid> files.
 */
const NAMESPACE_SCRIPT = `P=$1
for ns in cgroup ipc mnt net pid uts; do echo "ns $ns $(readlink /proc/$P/ns/$ns) $(readlink /proc/1/ns/$ns)"; done
mine=$(readlink /proc/$P/ns/pid)
for d in /proc/[0-9]*; do
  [ "$(readlink $d/ns/pid 2>/dev/null)" = "$mine" ] || continue
  nspid=$(sed -n 's/^NSpid:[[:space:]]*//p' $d/status 2>/dev/null)
  ppid=$(sed -n 's/^PPid:[[:space:]]*//p' $d/status 2>/dev/null)
  cmd=$(tr '\\0' ' ' < $d/cmdline 2>/dev/null)
  [ -n "$cmd" ] || cmd="[$(cat $d/comm 2>/dev/null)]"
  echo "proc $nspid|$ppid|$cmd"
done
echo "hostname $(nsenter -u -t $P hostname 2>/dev/null)"
sed 's/^/mount /' /proc/$P/mountinfo
sed -n '3,$s/^/net /p' /proc/$P/net/dev
`;

/**
 * Inspects a container: its layer stack (from the image store and the live overlay mount), its writable layer, and,
 * while it runs, its namespaces, processes, host name, mounts and interfaces (from the guest).
 * @example
 * const seen = await inspectContainer(containers, images, "web");
 * seen.processes.find((p) => p.containerPid === 1)?.guestPid; // 214
 */
export async function inspectContainer(
  containers: ContainerService,
  images: ImageService,
  ref: string,
): Promise<ContainerInspection> {
  const details = containers.inspect(ref);
  const image = await images.image(details.imageId);
  const history = (await images.history(details.imageId)).slice().reverse();
  const others = await Promise.all(
    (await images.images())
      .filter((summary) => summary.id !== image.record.config.digest)
      .map(async (summary) => ({
        name: summary.repoTags[0] ?? summary.id.slice(7, 19),
        chainIds: new Set((await images.image(summary.id)).layers.map((layer) => layer.chainId)),
      })),
  );
  const layers: InspectedLayer[] = image.layers.map((layer) => ({
    chainId: layer.chainId,
    diffId: layer.diffId,
    digest: layer.blob.digest,
    compressedSize: layer.blob.size,
    size: layer.size,
    createdBy: history.find((step) => step.diffId === layer.diffId)?.createdBy ?? "",
    sharedWith: others.filter((other) => other.chainIds.has(layer.chainId)).map((other) => other.name),
  }));
  const changes = await containers.changes(details.id).catch(() => []);
  const inspection: ContainerInspection = {
    id: details.id,
    name: details.name,
    image: details.image,
    status: details.status,
    layers,
    upper: { dir: details.snapshot.upperDir, changes },
    namespaces: [],
    processes: [],
    mounts: [],
    interfaces: [],
  };
  if (details.pid === undefined || details.status !== "running") return inspection;
  inspection.pid = details.pid;
  const agent = containers.drydock.agent;
  const { stdout } = await agent.run(["/bin/busybox", "sh", "-c", NAMESPACE_SCRIPT, "inspect", String(details.pid)]);
  const byGuestPid = new Map<number, number>();
  const parents: [InspectedProcess, number][] = [];
  for (const line of stdout.split("\n")) {
    const [kind, ...rest] = line.split(" ");
    const text = rest.join(" ");
    if (kind === "ns") {
      const [type = "", container = "", guest = ""] = rest;
      inspection.namespaces.push({ type, container, guest });
    } else if (kind === "proc") {
      const [nspid = "", ppid = "", command = ""] = text.split("|");
      const pids = nspid.trim().split(/\s+/).map(Number);
      const process: InspectedProcess = {
        guestPid: pids[0] ?? 0,
        containerPid: pids.at(-1) ?? 0,
        containerPpid: 0,
        command: command.trim(),
      };
      byGuestPid.set(process.guestPid, process.containerPid);
      parents.push([process, Number(ppid)]);
    } else if (kind === "hostname") {
      inspection.hostname = text.trim();
    } else if (kind === "mount") {
      // mountinfo: id parent major:minor root mountpoint options … - fstype source superoptions
      const [left = "", right = ""] = text.split(" - ");
      const target = left.split(" ")[4] ?? "";
      const [type = "", source = "", superOptions = ""] = right.split(" ");
      inspection.mounts.push({ target, type, source });
      if (target === "/" && type === "overlay") inspection.overlay = superOptions;
    } else if (kind === "net") {
      const [name = "", counters = ""] = text.split(":");
      const fields = counters.trim().split(/\s+/).map(Number);
      inspection.interfaces.push({ name: name.trim(), rxBytes: fields[0] ?? 0, txBytes: fields[8] ?? 0 });
    }
  }
  for (const [process, ppid] of parents) {
    process.containerPpid = byGuestPid.get(ppid) ?? 0;
    inspection.processes.push(process);
  }
  inspection.processes.sort((a, b) => a.containerPid - b.containerPid);
  // The overlay's lowerdir is top first (the init layer with /etc/hosts and /etc/hostname, then the image's top);
  // the image's layers are base first, so the base is the last lower.
  const lowers = /(?:^|,)lowerdir=([^,]*)/.exec(inspection.overlay ?? "")?.[1]?.split(":") ?? [];
  for (const [index, layer] of layers.entries()) {
    const lower = lowers[lowers.length - 1 - index];
    if (lower) layer.lowerDir = lower;
  }
  return inspection;
}

/**
 * Reads the container's cgroup counters and limits from its cgroup directory in the guest.
 * @example
 * const reading = await readCgroup(containers, "web"); // { memoryCurrent: 352256, memoryMax: 33554432, … }
 */
export async function readCgroup(containers: ContainerService, ref: string): Promise<CgroupReading> {
  const dir = containers.containers.cgroupOf(ref);
  const agent = containers.drydock.agent;
  const read = (file: string) =>
    agent.readFile(`${dir}/${file}`).then(
      (bytes) => new TextDecoder().decode(bytes),
      () => "",
    );
  const files = ["memory.current", "memory.max", "memory.peak", "cpu.stat", "cpu.max", "pids.current", "pids.max"];
  const [memoryCurrent, memoryMax, memoryPeak, cpuStat, cpuMax, pidsCurrent, pidsMax, memoryEvents] = await Promise.all(
    [...files, "memory.events"].map(read),
  );
  const limit = (text: string | undefined) => {
    const value = (text ?? "").trim();
    return value === "" || value === "max" ? undefined : Number(value);
  };
  const [quota = "max", period = "100000"] = (cpuMax ?? "").trim().split(/\s+/);
  const reading: CgroupReading = {
    at: performance.now(),
    memoryCurrent: Number((memoryCurrent ?? "").trim() || 0),
    memoryPeak: Number((memoryPeak ?? "").trim() || 0),
    cpuUsageUsec: Number(/^usage_usec (\d+)$/m.exec(cpuStat ?? "")?.[1] ?? 0),
    pidsCurrent: Number((pidsCurrent ?? "").trim() || 0),
    oomKills: Number(/^oom_kill (\d+)$/m.exec(memoryEvents ?? "")?.[1] ?? 0),
  };
  const memoryLimit = limit(memoryMax);
  if (memoryLimit !== undefined) reading.memoryMax = memoryLimit;
  const pidsLimit = limit(pidsMax);
  if (pidsLimit !== undefined) reading.pidsMax = pidsLimit;
  if (quota !== "max" && Number(period) > 0) reading.cpuLimit = Number(quota) / Number(period);
  return reading;
}
