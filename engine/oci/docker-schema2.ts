// Docker's image manifest v2 schema 2 and its manifest list: the formats Docker Hub still serves for most images.
// They are the OCI manifest and index in all but media type, and every list entry carries a platform.
import type { Descriptor, Platform } from "./descriptor.ts";
import type { MediaType } from "./media-types.ts";

export interface DockerManifestList {
  schemaVersion: 2;
  mediaType: typeof MediaType.dockerManifestList;
  manifests: (Descriptor & { platform: Platform })[];
}

export interface DockerManifest {
  schemaVersion: 2;
  mediaType: typeof MediaType.dockerManifest;
  config: Descriptor;
  layers: Descriptor[];
}
