// Image references as the docker CLI checks and shows them, on top of engine/oci's parser: docker's own words for a
// malformed one ("invalid reference format…") and the familiar form (`busybox:latest`, `localhost:5000/app:1`).
import { familiarReference, type ImageReference, parseReference } from "../oci/index.ts";
import { CliError } from "./errors.ts";

/**
 * Parses a reference or fails with docker's message (exit code `status`).
 * @example
 * cliReference("BusyBox"); // throws "invalid reference format: repository name must be lowercase"
 */
export function cliReference(text: string, status = 1): ImageReference {
  try {
    return parseReference(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : "";
    throw new CliError(
      message.endsWith("repository name must be lowercase")
        ? "invalid reference format: repository name must be lowercase"
        : "invalid reference format",
      status,
    );
  }
}

/**
 * The familiar name without tag or digest: `busybox`, `localhost:5000/app`.
 * @example
 * familiarName(parseReference("docker.io/library/busybox:1")); // "busybox"
 */
export function familiarName(reference: ImageReference): string {
  return familiarReference({ registry: reference.registry, repository: reference.repository });
}

/**
 * The familiar form with the tag docker adds when none was given: `busybox:latest`.
 * @example
 * familiarTagged("busybox"); // "busybox:latest"
 */
export function familiarTagged(text: string): string {
  return familiarReference(cliReference(text));
}

/**
 * The fully qualified form docker prints after a pull: `docker.io/library/busybox:latest`.
 * @example
 * qualifiedReference(parseReference("busybox")); // "docker.io/library/busybox:latest"
 */
export function qualifiedReference(reference: ImageReference): string {
  return `${reference.registry}/${reference.repository}${reference.tag !== undefined ? `:${reference.tag}` : ""}${reference.digest !== undefined ? `@${reference.digest}` : ""}`;
}
