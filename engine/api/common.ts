// What every route file of the API shares: the services it serves, Docker's ways of writing times and sizes, query
// flags, JSON bodies, and the services' errors in Docker's words.
import type { Context } from "hono";
import type { ContainerService, ContainerSummary } from "../container-service.ts";
import { EngineError, isEngineError } from "../errors.ts";
import type { ImageService, ImageSummary } from "../image-service.ts";
import { type ImageReference, parseReference } from "../oci/index.ts";
import type { SwarmApi } from "./swarm.ts";
import { API_VERSION, splitVersionedPath } from "./version.ts";

export interface ApiOptions {
  images: ImageService;
  /** Without one (no guest booted), container lists are empty and container operations answer 503. */
  containers?: ContainerService;
  /** Drydock's version, shown as the server's (default 0.1.0). */
  version?: string;
  /** The daemon's name in `docker info` (default drydock). */
  name?: string;
  /** The daemon's ID in `docker info` (default drydock); each node of a multi-node daemon has its own. */
  id?: string;
  /** Where images are kept, shown as `Docker Root Dir`. */
  root?: string;
  /** The cluster's swarm and which of its nodes this API serves; without it the swarm routes say there is none. */
  swarm?: SwarmApi;
  /**
   * Where the swarm's managers are, when they are not in this engine (the page's node2…, each in a worker of its
   * own): the swarm routes, and the swarm part of /info, are asked of it as this node's, as a node that is not the
   * leader hands its control requests to the leader.
   */
  swarmLink?: (request: Request) => Promise<Response>;
}

export const PLATFORM = { os: "linux", arch: "386" };

/** Seconds since the epoch, as Docker's list answers count time. */
export function unixSeconds(time: string | number | undefined): number {
  if (time === undefined) return 0;
  const ms = typeof time === "number" ? time : Date.parse(time);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
}

/** RFC 3339 with nanoseconds, as Go writes a time in inspect answers; Go's zero time for none. */
export function goTime(ms: number | undefined): string {
  return ms === undefined ? "0001-01-01T00:00:00Z" : new Date(ms).toISOString().replace("Z", "000000Z");
}

/** A query flag as dockerd reads one: present and not 0/false. */
export function flag(value: string | undefined): boolean {
  return value !== undefined && value !== "" && value !== "0" && value.toLowerCase() !== "false";
}

/** The API version a request speaks: its path's, or the newest for an unversioned path. */
export function requestApiVersion(c: Context): string {
  return splitVersionedPath(new URL(c.req.url).pathname).version ?? API_VERSION;
}

/** A request's JSON body (an object; none is `{}`), or a 400 saying it is not JSON. */
export async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new EngineError("invalidArgument", `the request body is not valid JSON: ${(error as Error).message}`);
  }
  if (value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new EngineError("invalidArgument", "the request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/** The container service, or a 503 saying why there is none. */
export function requireContainers(options: ApiOptions): ContainerService {
  if (!options.containers) {
    throw new EngineError("unavailable", "no guest is booted: containers cannot run (start the daemon with a guest)");
  }
  return options.containers;
}

/** Runs `work`, turning "no such container" into Docker's exact words (the CLI and docker-py match on them). */
export async function withContainer<T>(ref: string, work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isEngineError(error, "notFound") && /^no such container/.test(error.message)) {
      throw new EngineError("notFound", `No such container: ${ref}`, { cause: error });
    }
    throw error;
  }
}

/** Docker's words for an image that is not there. */
export async function withImage<T>(name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isEngineError(error, "notFound")) throw new EngineError("notFound", `No such image: ${name}`, { cause: error });
    throw error;
  }
}

/** A JSON answer with a status, and Docker's trailing newline. */
export function json(value: unknown, status = 200): Response {
  return new Response(`${JSON.stringify(value)}\n`, { status, headers: { "content-type": "application/json" } });
}

/** An answer without a body (204 No Content, 304 Not Modified). */
export function empty(status: 204 | 304 | 200 | 201 = 204): Response {
  return new Response(null, { status });
}

/**
 * Parses an image reference, failing in dockerd's words (`invalid reference format: …`), which clients match on.
 * @example
 * dockerReference("Bad/Ref"); // throws "invalid reference format: repository name must be lowercase"
 */
export function dockerReference(text: string): ImageReference {
  try {
    return parseReference(text);
  } catch (error) {
    if (isEngineError(error, "invalidArgument")) {
      throw new EngineError(
        "invalidArgument",
        error.message.replace(/^invalid reference format "[^"]*"/, "invalid reference format"),
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}

/**
 * An image as `GET /images/json` and `GET /system/df` list it, with how many of `containers` use it.
 * @example
 * const rows = (await images.images()).map((image) => imageSummaryJson(image, containers.list({ all: true }), -1));
 */
export function imageSummaryJson(image: ImageSummary, containers: ContainerSummary[], sharedSize: number) {
  return {
    Id: image.id,
    ParentId: "",
    RepoTags: image.repoTags,
    RepoDigests: image.repoDigests,
    Created: unixSeconds(image.created),
    Size: image.size,
    VirtualSize: image.size,
    SharedSize: sharedSize,
    Labels: image.labels,
    Containers: containers.filter((container) => container.imageId === image.id).length,
  };
}
