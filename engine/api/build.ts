// Build routes: `POST /build` (a tar build context in, the classic builder's JSON lines out), `POST /commit`, and
// the prunes (`POST /images/prune`, `POST /build/prune`).
import type { Hono } from "hono";
import { Builder, commitContainer, readBuildContext } from "../build/index.ts";
import { EngineError } from "../errors.ts";
import type { Digest } from "../oci/index.ts";
import { type ApiOptions, dockerReference, flag, jsonBody, requireContainers, withContainer } from "./common.ts";
import { progressResponse } from "./progress.ts";

/** A JSON-object query parameter (`buildargs`, `labels`), or a 400 naming it. */
function jsonQuery(value: string | undefined, name: string): Record<string, string | null> {
  if (value === undefined || value === "" || value === "null") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new EngineError("invalidArgument", `${name} is not a JSON object`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new EngineError("invalidArgument", `${name} is not a JSON object`);
  }
  return parsed as Record<string, string | null>;
}

/** `filters` of the prune routes: `{"dangling": {"false": true}}` (prune -a) and the like. */
function danglingOnly(filters: string | undefined): boolean {
  if (!filters) return true;
  let parsed: Record<string, Record<string, boolean> | string[]>;
  try {
    parsed = JSON.parse(filters) as typeof parsed;
  } catch {
    throw new EngineError("invalidArgument", "filters is not JSON");
  }
  const dangling = parsed.dangling;
  const values = Array.isArray(dangling) ? dangling : Object.keys(dangling ?? {});
  return !values.some((value) => value === "false" || value === "0");
}

/**
 * The build, commit and prune routes.
 * @example
 * registerBuildRoutes(app, { images, containers });
 */
export function registerBuildRoutes(app: Hono, options: ApiOptions): void {
  const { images } = options;
  const builder = new Builder(images, options.containers);

  app.post("/build", async (c) => {
    if (c.req.query("version") === "2") {
      throw new EngineError(
        "invalidArgument",
        "BuildKit is not supported here: build with the classic builder (DOCKER_BUILDKIT=0 docker build …)",
      );
    }
    if (c.req.query("remote")) {
      throw new EngineError("invalidArgument", "building from a remote URL needs the network: send a build context");
    }
    const tags = c.req.queries("t") ?? [];
    for (const tag of tags) dockerReference(tag);
    const dockerfile = c.req.query("dockerfile") || "Dockerfile";
    const quiet = flag(c.req.query("q"));
    const body = c.req.raw.body;
    const context = await readBuildContext(body ?? new Uint8Array(), { dockerfile });
    const buildArgs = jsonQuery(c.req.query("buildargs"), "buildargs");
    const labels = Object.fromEntries(
      Object.entries(jsonQuery(c.req.query("labels"), "labels")).map(([k, v]) => [k, v ?? ""]),
    );
    const platform = c.req.query("platform");
    const target = c.req.query("target");
    // As dockerd's classic builder: a build that fails before its first line (a Dockerfile that does not parse) is
    // an HTTP error; later failures are an errorDetail line of the stream.
    return progressResponse(
      (send, signal) =>
        builder.build({
          context,
          dockerfile,
          tags,
          buildArgs,
          labels,
          noCache: flag(c.req.query("nocache")),
          pull: flag(c.req.query("pull")),
          ...(platform ? { platform } : {}),
          ...(target ? { target } : {}),
          signal,
          output: quiet ? undefined : (text) => send({ stream: text }),
        }),
      (result, send) => {
        send({ aux: { ID: result.id } });
        if (quiet) send({ stream: `${result.id}\n` });
      },
      "the client went away during the build",
    );
  });

  app.post("/build/prune", async (c) => {
    const { items, reclaimed } = await images.store.prune({ all: flag(c.req.query("all")), inUse: inUse() });
    return c.json({
      CachesDeleted: items.flatMap((item) => ("deleted" in item ? [item.deleted] : [])),
      SpaceReclaimed: reclaimed,
    });
  });

  const inUse = () => new Set((options.containers?.list({ all: true }) ?? []).map((c) => c.imageId as Digest));

  app.post("/images/prune", async (c) => {
    const { items, reclaimed } = await images.store.prune({
      all: !danglingOnly(c.req.query("filters")),
      inUse: inUse(),
    });
    for (const item of items) {
      if ("deleted" in item) images.events.emit({ type: "image", action: "delete", id: item.deleted, attributes: {} });
    }
    return c.json({
      ImagesDeleted: items.length
        ? items.map((item) => ("untagged" in item ? { Untagged: item.untagged } : { Deleted: item.deleted }))
        : null,
      SpaceReclaimed: reclaimed,
    });
  });

  app.post("/commit", async (c) => {
    const containers = requireContainers(options);
    const ref = c.req.query("container");
    if (!ref) throw new EngineError("invalidArgument", "container is required: the container to commit");
    const repo = c.req.query("repo");
    const tag = c.req.query("tag");
    const reference = repo ? (tag ? `${repo}:${tag}` : repo) : undefined;
    if (reference) dockerReference(reference);
    // A body (a container config) may only change what --change could; the CLI sends none that matters.
    await jsonBody(c);
    const comment = c.req.query("comment");
    const author = c.req.query("author");
    const id = await withContainer(ref, () =>
      commitContainer(images, containers, ref, {
        ...(reference ? { reference } : {}),
        ...(comment ? { comment } : {}),
        ...(author ? { author } : {}),
        changes: c.req.queries("changes") ?? [],
        pause: c.req.query("pause") === undefined ? true : flag(c.req.query("pause")),
      }),
    );
    images.events.emit({ type: "container", action: "commit", id: ref, attributes: {} });
    return c.json({ Id: id }, 201);
  });
}
