// A manifest as a registry returns it: either an index (OCI image index or Docker manifest list) or a single
// platform's manifest (OCI or Docker schema 2). The media type decides which; the JSON is checked field by field.
import { EngineError } from "../errors.ts";
import { type ImageIndex, parseImageIndex } from "./image-index.ts";
import { type ImageManifest, parseImageManifest } from "./image-manifest.ts";
import * as json from "./json.ts";
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MediaType } from "./media-types.ts";

export type ManifestDocument =
  | { kind: "index"; mediaType: string; index: ImageIndex }
  | { kind: "manifest"; mediaType: string; manifest: ImageManifest };

/**
 * Parses manifest bytes. `contentType` is the registry's Content-Type header, which wins over the document's own
 * mediaType field (OCI lets a document omit it); a generic or missing header falls back to the field, then to shape.
 */
export function parseManifestDocument(bytes: Uint8Array, contentType?: string, what = "manifest"): ManifestDocument {
  const value = json.object(json.parseJson(bytes, what), what);
  const header = contentType?.split(";")[0]?.trim();
  const field = typeof value.mediaType === "string" ? value.mediaType : undefined;
  const declared = [header, field].find((type) => type && type !== "application/json" && type !== "text/plain");
  const mediaType =
    declared ??
    (Array.isArray(value.manifests)
      ? MediaType.ociImageIndex
      : value.config !== undefined
        ? MediaType.ociImageManifest
        : undefined);
  if (mediaType === MediaType.dockerManifestSchema1 || mediaType === MediaType.dockerManifestSchema1Signed) {
    throw new EngineError(
      "invalidArgument",
      `${what} uses Docker's deprecated schema 1 (${mediaType}), which Drydock does not support; the image needs to be pushed again with a current tool`,
    );
  }
  if (mediaType !== undefined && INDEX_MEDIA_TYPES.includes(mediaType)) {
    return { kind: "index", mediaType, index: parseImageIndex(value, what) };
  }
  if (mediaType !== undefined && MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    return { kind: "manifest", mediaType, manifest: parseImageManifest(value, what) };
  }
  throw new EngineError(
    "invalidArgument",
    `${what} has media type ${mediaType ?? "(none)"}, which is neither an image index nor an image manifest`,
  );
}
