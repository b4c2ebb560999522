// The runtime: containers (metadata) and tasks (running process trees), an explicit state machine, the pure
// translation of image defaults and run options into an OCI runtime spec, cgroup v2 limits, logs and exec.
export { ContainerFiles, type ContainerPathStat, type ContainerRootSource, goFileMode } from "./archive.ts";

export {
  CAPABILITIES,
  capabilityMask,
  DEFAULT_CAPABILITIES,
  DEFAULT_DEVICE_RULES,
  type DeviceMapping,
  deviceProgram,
  MASKED_PATHS,
  READONLY_PATHS,
  runDeviceProgram,
} from "./confinement.ts";
export {
  type ContainerDetails,
  type ContainerNetworkInfo,
  type ContainerSummary,
  Containers,
  type ExecOptions,
  type ExitInfo,
  type FilesystemChange,
  GUEST_RUNTIME,
  type ImageLookup,
  type RunResult,
  type WaitCondition,
} from "./containers.ts";
export { containerDir, createRuntimeSpec, DEFAULT_PATH, mergeEnv, resolveCommand } from "./create-spec.ts";
export { formatLogLine, LogBuffer, type LogEntry, type LogReadOptions } from "./logs.ts";
export { parseBytes, type RunOptions, type ValidRunOptions, validateRunOptions } from "./options.ts";
export {
  checkRestartPolicy,
  NO_RESTART,
  nextRestartDelay,
  type RestartPolicy,
  type RestartPolicyName,
  shouldRestart,
} from "./restart.ts";
export type { RuntimeMount, RuntimeSpec } from "./spec.ts";
export { type ContainerAction, type ContainerStatus, requireTask, transition } from "./state.ts";
export {
  type BlockIo,
  CGROUP_ROOT,
  type CgroupSample,
  mountFlags,
  type ProcessInfo,
  parseIoStat,
  parseKeyedFile,
  parseProcStat,
  type RuntimeAgent,
  type Task,
  TaskRunner,
} from "./task.ts";
export { type ResolvedUser, resolveUser, validateUserSpec } from "./user.ts";
