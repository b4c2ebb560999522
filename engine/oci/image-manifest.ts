// The OCI image manifest (image-spec manifest.md): one platform's config and ordered layers.
import { type Descriptor, parseDescriptor } from "./descriptor.ts";
import * as json from "./json.ts";

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  /** Base layer first: each one is applied on top of those before it. */
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export function parseImageManifest(value: unknown, path = "image manifest"): ImageManifest {
  const source = json.object(value, path);
  return {
    schemaVersion: json.schemaVersion2(source.schemaVersion, path),
    mediaType: json.optionalString(source.mediaType, `${path}.mediaType`),
    artifactType: json.optionalString(source.artifactType, `${path}.artifactType`),
    config: parseDescriptor(source.config, `${path}.config`),
    layers: json.array(source.layers, `${path}.layers`, parseDescriptor),
    subject: source.subject === undefined ? undefined : parseDescriptor(source.subject, `${path}.subject`),
    annotations: json.optionalStringMap(source.annotations, `${path}.annotations`),
  };
}
