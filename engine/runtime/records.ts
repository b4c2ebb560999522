// What the engine keeps of each container between two runs of itself (a daemon restart, a page reload): one small
// document, `containers.json`, in the engine's metadata store (beside images.json: OPFS in the page, the data root
// in Node). It holds every container's record, rewritten whenever one changes; a task is never kept (the guest that
// ran it is gone), so a container found running is read back as exited, as after a host reboot. Its files are kept
// beside it, one archive per container (upper-layer.ts).
import { EngineError } from "../errors.ts";
import { parseJson } from "../oci/json.ts";
import type { ContainerMount } from "../volumes/index.ts";
import type { ValidRunOptions } from "./options.ts";
import type { RuntimeSpec } from "./spec.ts";
import type { ContainerStatus } from "./state.ts";

export const CONTAINERS_DOCUMENT = "containers.json";

/** Docker's code for a container whose task was lost with its host (dockerd records 255 after an unclean stop). */
export const LOST_TASK_EXIT_CODE = 255;

/** How a container's last task ended (the runtime's ExitInfo). */
export interface RecordedExit {
  code: number;
  signal?: number;
  oomKilled: boolean;
  finishedAt: number;
  error?: string;
}

export interface ContainerRecord {
  id: string;
  name: string;
  image: string;
  imageId: string;
  runtime: string;
  /** The checked options it was created with: its Config and HostConfig. */
  options: ValidRunOptions;
  entrypoint: string[];
  cmd: string[];
  spec: RuntimeSpec;
  mounts: ContainerMount[];
  status: ContainerStatus;
  created: number;
  labels: Record<string, string>;
  exposedPorts: string[];
  startedAt?: number;
  exit?: RecordedExit;
  /** Times the restart policy started it again since it was last started by hand. */
  restartCount: number;
  /** `docker stop` (or kill) ended its last run: `unless-stopped` leaves it stopped at engine start. */
  stoppedByUser: boolean;
}

interface ContainersDocument {
  version: 1;
  containers: ContainerRecord[];
}

/**
 * The document's bytes for the records.
 * @example
 * await metadata.write(CONTAINERS_DOCUMENT, encodeContainerRecords(records));
 */
export function encodeContainerRecords(records: ContainerRecord[]): Uint8Array {
  const document: ContainersDocument = { version: 1, containers: records };
  return new TextEncoder().encode(JSON.stringify(document));
}

/**
 * The records in a stored document; a document Drydock cannot read is an error naming the file and what to do.
 * @example
 * const records = decodeContainerRecords(await metadata.read(CONTAINERS_DOCUMENT));
 */
export function decodeContainerRecords(bytes: Uint8Array | undefined): ContainerRecord[] {
  if (bytes === undefined) return [];
  const unknown = (cause?: unknown) =>
    new EngineError(
      "dataLoss",
      `the engine's container records (${CONTAINERS_DOCUMENT} in its metadata store) are not in a format Drydock knows: move the file aside to start with no containers`,
      cause === undefined ? undefined : { cause },
    );
  let value: Partial<ContainersDocument>;
  try {
    value = parseJson(bytes, CONTAINERS_DOCUMENT) as Partial<ContainersDocument>;
  } catch (error) {
    throw unknown(error);
  }
  if (value?.version !== 1 || !Array.isArray(value.containers)) throw unknown();
  for (const record of value.containers) {
    const valid =
      typeof record?.id === "string" &&
      /^[0-9a-f]{64}$/.test(record.id) &&
      typeof record.name === "string" &&
      typeof record.imageId === "string" &&
      typeof record.spec === "object" &&
      typeof record.options === "object" &&
      typeof record.status === "string";
    if (!valid) throw unknown();
  }
  return value.containers;
}

/**
 * A record as the engine finds it at its start: no task survived, so a container that was running or paused is
 * exited, with Docker's code for a lost task, at `now`; the rest are as they were.
 * @example
 * afterEngineRestart({ ...record, status: "running" }, Date.now()).status; // "exited"
 */
export function afterEngineRestart(record: ContainerRecord, now: number): ContainerRecord {
  if (record.status !== "running" && record.status !== "paused") return record;
  return {
    ...record,
    status: "exited",
    exit: {
      code: LOST_TASK_EXIT_CODE,
      oomKilled: false,
      finishedAt: now,
      error: "the engine stopped while the container ran",
    },
  };
}
