// The OCI image index (image-spec image-index.md): one entry per platform-specific manifest.
import { type Descriptor, parseDescriptor } from "./descriptor.ts";
import * as json from "./json.ts";

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export function parseImageIndex(value: unknown, path = "image index"): ImageIndex {
  const source = json.object(value, path);
  return {
    schemaVersion: json.schemaVersion2(source.schemaVersion, path),
    mediaType: json.optionalString(source.mediaType, `${path}.mediaType`),
    artifactType: json.optionalString(source.artifactType, `${path}.artifactType`),
    manifests: json.array(source.manifests, `${path}.manifests`, parseDescriptor),
    subject: source.subject === undefined ? undefined : parseDescriptor(source.subject, `${path}.subject`),
    annotations: json.optionalStringMap(source.annotations, `${path}.annotations`),
  };
}
