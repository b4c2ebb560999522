// Media types of the OCI image spec and of Docker's image manifest v2 schema 2, as named constants. A registry
// answers with one of these in Content-Type; the engine dispatches on them, never on the shape of the JSON.

export const MediaType = {
  ociDescriptor: "application/vnd.oci.descriptor.v1+json",
  ociImageIndex: "application/vnd.oci.image.index.v1+json",
  ociImageManifest: "application/vnd.oci.image.manifest.v1+json",
  ociImageConfig: "application/vnd.oci.image.config.v1+json",
  ociEmpty: "application/vnd.oci.empty.v1+json",
  ociLayerTar: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  ociLayerNondistributableTar: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  ociLayerNondistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  ociLayerNondistributableZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerImageConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerLayerForeignGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  /** Docker's schema 1, long deprecated: recognised only to refuse it with a clear message. */
  dockerManifestSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  dockerManifestSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

export type MediaTypeName = (typeof MediaType)[keyof typeof MediaType];

/** Media types of documents that list manifests for several platforms. */
export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.ociImageIndex, MediaType.dockerManifestList];

/** Media types of single-platform image manifests. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.ociImageManifest, MediaType.dockerManifest];

/** What the engine asks a registry for, in order of preference: the Accept header of a manifest request. */
export const MANIFEST_ACCEPT: readonly string[] = [...INDEX_MEDIA_TYPES, ...MANIFEST_MEDIA_TYPES];

export type LayerCompression = "none" | "gzip" | "zstd";

/**
 * How a layer's bytes are compressed, from its media type. Returns undefined for media types that are not layers
 * (an artifact's blobs, for example), so the caller can say which one it met.
 */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  switch (mediaType) {
    case MediaType.ociLayerTar:
    case MediaType.ociLayerNondistributableTar:
      return "none";
    case MediaType.ociLayerGzip:
    case MediaType.ociLayerNondistributableGzip:
    case MediaType.dockerLayerGzip:
    case MediaType.dockerLayerForeignGzip:
      return "gzip";
    case MediaType.ociLayerZstd:
    case MediaType.ociLayerNondistributableZstd:
      return "zstd";
    default:
      return undefined;
  }
}
