// Files of a container as tar streams: `HEAD/GET/PUT /containers/{id}/archive` (what `docker cp` uses, with the
// path's stat in `X-Docker-Container-Path-Stat`) and `GET /containers/{id}/export`.
import type { Hono } from "hono";
import type { ContainerPathStat } from "../container-service.ts";
import { EngineError } from "../errors.ts";
import { type ApiOptions, flag, requireContainers, withContainer } from "./common.ts";

/** The header dockerd sends: base64 of the stat as JSON. */
function statHeader(stat: ContainerPathStat): string {
  const bytes = new TextEncoder().encode(JSON.stringify(stat));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function pathParam(path: string | undefined): string {
  if (!path) throw new EngineError("invalidArgument", "path is required: the path in the container to copy");
  return path;
}

/**
 * The archive and export routes.
 * @example
 * registerArchiveRoutes(app, { images, containers });
 */
export function registerArchiveRoutes(app: Hono, options: ApiOptions): void {
  app.on("HEAD", "/containers/:id/archive", async (c) => {
    const id = c.req.param("id");
    const path = pathParam(c.req.query("path"));
    const stat = await withContainer(id, () => requireContainers(options).statPath(id, path));
    return new Response(null, { status: 200, headers: { "X-Docker-Container-Path-Stat": statHeader(stat) } });
  });

  app.get("/containers/:id/archive", async (c) => {
    const id = c.req.param("id");
    const path = pathParam(c.req.query("path"));
    const { stat, tar } = await withContainer(id, () => requireContainers(options).archivePath(id, path));
    return new Response(tar, {
      status: 200,
      headers: { "content-type": "application/x-tar", "X-Docker-Container-Path-Stat": statHeader(stat) },
    });
  });

  app.put("/containers/:id/archive", async (c) => {
    const id = c.req.param("id");
    const path = pathParam(c.req.query("path"));
    const body = c.req.raw.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
    await withContainer(id, () =>
      requireContainers(options).extractArchive(id, path, body, { copyUIDGID: flag(c.req.query("copyUIDGID")) }),
    );
    return new Response(null, { status: 200 });
  });

  app.get("/containers/:id/export", async (c) => {
    const id = c.req.param("id");
    const tar = await withContainer(id, () => requireContainers(options).exportFilesystem(id));
    return new Response(tar, { status: 200, headers: { "content-type": "application/octet-stream" } });
  });
}
