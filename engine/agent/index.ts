// The guest agent protocol, engine side: AgentClient spawns processes, runs filesystem requests and accepts
// forwarded unix-socket connections through drydockd (vm-images/agent/) over the guest's virtio console.
export {
  AgentClient,
  type AgentHello,
  type CapabilitySets,
  type ConnectOptions,
  type DeviceNode,
  type DirEntry,
  type ExitStatus,
  type FileStat,
  type GuestConnection,
  type GuestProcess,
  type MountSpec,
  type Namespace,
  type SpawnOptions,
} from "./client.ts";
export { PROTOCOL_VERSION } from "./protocol.ts";
