// The guest machine: the Machine interface, the v86-backed implementation and its artifacts.
export {
  ARTIFACT_FILES,
  type ArtifactEntry,
  type ArtifactManifest,
  type GuestArtifacts,
  REBUILD_HINT,
  verifyArtifacts,
} from "./artifacts.ts";
export { FakeMachine } from "./fake-machine.ts";
export type { ByteChannel, Machine } from "./machine.ts";
export { type CommandResult, SerialShell } from "./serial-shell.ts";
export {
  type CompiledWasm,
  DEFAULT_MEMORY_MIB,
  type MachineArtifacts,
  type MachineStep,
  type NinePHandler,
  V86Machine,
  type V86MachineOptions,
} from "./v86-machine.ts";
