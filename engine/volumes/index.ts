// Volumes and mounts: what `docker volume …`, `-v`, `--mount` and `--tmpfs` ask for. specs.ts reads Docker's create
// body into checked mount requests; VolumeStore keeps the volumes (the `local` driver: a directory in the guest per
// volume; `tmpfs`: a tmpfs in guest memory, see drivers.ts), knows which containers use them, and resolves a container's requests into guest paths the runtime mounts.

export {
  type DriverCreateRequest,
  type DriverVolume,
  ImageDriver,
  type ImageLayerSource,
  LocalDriver,
  TmpfsDriver,
  type VolumeDriver,
} from "./drivers.ts";
export { OpfsVolumeDataStore } from "./opfs.ts";
export {
  checkVolumeName,
  type MountOrigin,
  type MountRequest,
  type MountType,
  mountsOfCreateBody,
  parseApiMount,
  parseBind,
  parseTmpfs,
} from "./specs.ts";
export { checkStoredVolumeName, MemoryVolumeDataStore, type VolumeDataStore } from "./storage.ts";
export { type VolumeInfo, VolumeTree } from "./tree.ts";
export {
  type ContainerMount,
  type CreateVolumeOptions,
  type HostBindAnswer,
  type HostBindResolver,
  VOLUMES_ROOT,
  type Volume,
  type VolumeAgent,
  VolumeStore,
  type VolumeStoreStorage,
} from "./volumes.ts";
