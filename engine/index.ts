// Drydock's engine: the public facade. Everything a page, a worker or a Node program needs is exported here;
// the folders behind it are internal.
export * from "./agent/index.ts";
export { type ApiOptions, createApiApp, type SwarmApi } from "./api/index.ts";
export {
  type ApiConnector,
  type ApiTransport,
  type CliIO,
  type ContextRecord,
  type ContextStore,
  DEFAULT_CONTEXT,
  MemoryContextStore,
} from "./cli/index.ts";
export * from "./cluster/index.ts";
export * from "./container-service.ts";
export { OpfsContentStore, OpfsMetadataStore } from "./content/index.ts";
export {
  DistributionRegistry,
  type RegistryEnvelope,
  type RegistryEvent,
  type RegistryRepository,
  type RegistryTag,
} from "./distribution/index.ts";
export { type BootOptions, Drydock, LOGIN_SHELL, type LoginShell } from "./drydock.ts";
export { EngineError, type ErrorKind, isEngineError } from "./errors.ts";
export {
  createLayerServer,
  createShareServer,
  imageStoreLayers,
  type LayerServerOptions,
  type LayerSource,
} from "./fs9p/index.ts";
export {
  GUEST_CLI_SOCKET,
  GUEST_DOCKER_SOCKET,
  GUEST_REGISTRY_SOCKET,
  type GuestDocker,
  type GuestDockerOptions,
  serveDockerInGuest,
} from "./guest-docker.ts";
export type { ByteConnection, FetchHandler, HttpExchange, HttpLimits } from "./http/index.ts";
export {
  type Credentials,
  type HistoryItem,
  type ImageDetails,
  ImageService,
  type ImageServiceOptions,
  type ImageStorage,
  type ImageSummary,
  type LayerProgress,
  type LayerStep,
  type PullResult,
  type PullTimeline,
  type RegistryRequest,
  type RemovedItem,
} from "./image-service.ts";
export {
  type CgroupReading,
  type ContainerInspection,
  type InspectedLayer,
  type InspectedNamespace,
  type InspectedProcess,
  inspectContainer,
  readCgroup,
} from "./inspect/index.ts";
export {
  describeDnsAnswer,
  NO_RELAY_MESSAGE,
  type RelayConfig,
  relayWispUrl,
  resolveViaRelay,
} from "./network/relay.ts";
export type { HashPort } from "./oci/index.ts";
export {
  type GuestTcpConnection,
  type GuestTcpConnector,
  guestTcpConnector,
  PREVIEW_ADDRESS,
  type PreviewRequest,
  type PreviewResponse,
  previewFetch,
} from "./preview/index.ts";
export { proxyEndpoint, type RegistryEndpoint } from "./registry/index.ts";
export * from "./supervisor/index.ts";
export {
  localNodeEngine,
  type MeshPort,
  type ServiceNames,
  SwarmManager,
  type SwarmMember,
  type SwarmNodeEngine,
  type TaskContainerState,
} from "./swarm/index.ts";
export * from "./vm/index.ts";
export {
  MemoryVolumeDataStore,
  OpfsVolumeDataStore,
  type VolumeDataStore,
  VolumeTree,
} from "./volumes/index.ts";
export { serveWasiModule, type WasiWorker, type WorkerEndpoint, withSpareWorker } from "./wasi/index.ts";
export {
  exportWorkspace,
  type ImportSummary,
  importWorkspace,
  verifyWorkspace,
  type WorkspaceStores,
} from "./workspace/index.ts";
