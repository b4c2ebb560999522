// Volume routes: create, list, inspect, remove and prune (`/volumes`), in dockerd's shapes and words. A volume in
// use cannot be removed (409, naming the containers).
import type { Hono } from "hono";
import { EngineError } from "../errors.ts";
import type { Volume } from "../volumes/index.ts";
import { type ApiOptions, empty, flag, json, jsonBody, requireContainers } from "./common.ts";
import { acceptFilters, parseFilters } from "./filters.ts";

/** A volume as `GET /volumes/{name}` answers it. */
export function volumeJson(volume: Volume, usage?: { size: number; refCount: number }) {
  return {
    CreatedAt: new Date(volume.createdAt).toISOString().replace(/\.\d+Z$/, "Z"),
    Driver: volume.driver,
    Labels: Object.keys(volume.labels).length ? volume.labels : null,
    Mountpoint: volume.mountpoint,
    Name: volume.name,
    Options: Object.keys(volume.options).length ? volume.options : null,
    Scope: "local",
    ...(volume.status ? { Status: volume.status } : {}),
    ...(usage ? { UsageData: { Size: usage.size, RefCount: usage.refCount } } : {}),
  };
}

const stringMap = (value: unknown, field: string): Record<string, string> => {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value))
    throw new EngineError("invalidArgument", `${field} must be an object`);
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, String(item)]));
};

/** Whether a volume passes `docker volume ls --filter` (name, label, dangling, driver). */
function volumeMatches(volume: Volume, filters: Record<string, string[]>, inUse: boolean): boolean {
  const any = (key: string, test: (value: string) => boolean) => !filters[key] || filters[key].some(test);
  return (
    any("name", (name) => volume.name.includes(name)) &&
    any("driver", (driver) => volume.driver === driver) &&
    any("dangling", (value) => flag(value) !== inUse) &&
    (filters.label ?? []).every((label) => {
      const [key, value] = label.split("=", 2) as [string, string?];
      return key in volume.labels && (value === undefined || volume.labels[key] === value);
    })
  );
}

export function registerVolumeRoutes(app: Hono, options: ApiOptions): void {
  const volumes = () => requireContainers(options).volumes;

  app.post("/volumes/create", async (c) => {
    const body = await jsonBody(c);
    const name = body.Name ?? "";
    if (typeof name !== "string") throw new EngineError("invalidArgument", "Name must be a string");
    const driver = typeof body.Driver === "string" ? body.Driver : "";
    const volume = await volumes().create({
      name,
      driver,
      labels: stringMap(body.Labels, "Labels"),
      driverOpts: stringMap(body.DriverOpts, "DriverOpts"),
    });
    return json(volumeJson(volume), 201);
  });

  app.get("/volumes", (c) => {
    const filters = parseFilters(c.req.query("filters"));
    acceptFilters(filters, ["name", "driver", "dangling", "label"]);
    const store = volumes();
    const listed = store
      .list()
      .filter((volume) => volumeMatches(volume, filters, store.users(volume.name).length > 0))
      .map((volume) => volumeJson(volume));
    return json({ Volumes: listed, Warnings: null });
  });

  app.post("/volumes/prune", async (c) => {
    const filters = parseFilters(c.req.query("filters"));
    const all = (filters.all ?? []).some(flag);
    acceptFilters(filters, ["all", "label", "name", "driver", "dangling"]);
    const { all: _all, ...rest } = filters;
    const { deleted, reclaimed } = await volumes().prune({
      all,
      keep: (volume) => !volumeMatches(volume, rest, false),
    });
    return json({ VolumesDeleted: deleted, SpaceReclaimed: reclaimed });
  });

  app.get("/volumes/:name", (c) => json(volumeJson(volumes().get(c.req.param("name")))));

  app.delete("/volumes/:name", async (c) => {
    await volumes().remove(c.req.param("name"), { force: flag(c.req.query("force")) });
    return empty(204);
  });
}
