// The Docker Engine REST API as a Hono app: a fetch handler with no Node APIs, so the same app serves a unix socket
// in Node (engine/node/daemon.ts) and requests inside the page's Web Worker.
import { type Context, Hono } from "hono";
import type { ContainerService, ContainerSummary } from "../container-service.ts";
import { EngineError, isEngineError } from "../errors.ts";
import type { ImageService, LayerProgress } from "../image-service.ts";
import { parseReference } from "../oci/index.ts";
import { errorBody, errorResponse } from "./errors.ts";
import { API_VERSION, checkApiVersion, MIN_API_VERSION, splitVersionedPath } from "./version.ts";

export interface ApiOptions {
  images: ImageService;
  /** Without one (no guest booted), container lists are empty and container operations answer 503. */
  containers?: ContainerService;
  /** Drydock's version, shown as the server's (default 0.1.0). */
  version?: string;
  /** The daemon's name in `docker info` (default drydock). */
  name?: string;
  /** Where images are kept, shown as `Docker Root Dir`. */
  root?: string;
}

const PLATFORM = { os: "linux", arch: "386" };

function unixSeconds(time: string | number | undefined): number {
  if (time === undefined) return 0;
  const ms = typeof time === "number" ? time : Date.parse(time);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
}

function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(3).replace(/\.?0+$/, "")}${units[unit]}`;
}

function humanDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 1) return "Less than a second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.round(seconds / 60);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  return hours === 1 ? "About an hour" : `${hours} hours`;
}

/** A container as `GET /containers/json` lists it. */
export function containerJson(
  container: ContainerSummary,
  details?: { startedAt?: number; exitCode?: number; finishedAt?: number },
) {
  const now = Date.now();
  let status = "Created";
  if (container.status === "running") status = `Up ${humanDuration(now - (details?.startedAt ?? container.created))}`;
  else if (container.status === "paused")
    status = `Up ${humanDuration(now - (details?.startedAt ?? container.created))} (Paused)`;
  else if (container.status === "exited")
    status = `Exited (${details?.exitCode ?? 0}) ${humanDuration(now - (details?.finishedAt ?? now))} ago`;
  return {
    Id: container.id,
    Names: [`/${container.name}`],
    Image: container.image,
    ImageID: container.imageId,
    Command: container.command.join(" "),
    Created: unixSeconds(container.created),
    Ports: [],
    Labels: {},
    State: container.status === "removed" ? "removing" : container.status,
    Status: status,
    HostConfig: { NetworkMode: "none" },
    NetworkSettings: { Networks: {} },
    Mounts: [],
  };
}

/** One of Docker's pull progress lines for a layer's event. */
function progressLine(progress: LayerProgress): Record<string, unknown> {
  const id = progress.id;
  switch (progress.status) {
    case "waiting":
      return { status: "Pulling fs layer", progressDetail: {}, id };
    case "exists":
      return { status: "Already exists", progressDetail: {}, id };
    case "complete":
      return { status: "Pull complete", progressDetail: {}, id };
    default: {
      const width = 50;
      const filled = progress.total > 0 ? Math.min(width, Math.floor((progress.done / progress.total) * width)) : 0;
      const bar = `[${"=".repeat(Math.max(0, filled - 1))}${filled > 0 ? ">" : ""}${" ".repeat(width - filled)}]`;
      return {
        status: "Downloading",
        progressDetail: { current: progress.done, total: progress.total },
        progress: `${bar} ${humanSize(progress.done)}/${humanSize(progress.total)}`,
        id,
      };
    }
  }
}

/** The name an image route names: everything between `/images/` and the route's last segment (names have slashes). */
function imageName(path: string, suffix: string): string {
  return decodeURIComponent(path.slice("/images/".length, suffix ? -suffix.length : undefined));
}

/** Docker's words for an image that is not there. */
async function withImage<T>(name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isEngineError(error, "notFound")) throw new EngineError("notFound", `No such image: ${name}`, { cause: error });
    throw error;
  }
}

function flag(value: string | undefined): boolean {
  return value !== undefined && value !== "" && value !== "0" && value.toLowerCase() !== "false";
}

/**
 * The Engine API over Drydock's services.
 * @example
 * const app = createApiApp({ images });
 * const answer = await app.fetch(new Request("http://docker/v1.43/images/json"));
 */
export function createApiApp(options: ApiOptions): Hono {
  const { images, containers } = options;
  const version = options.version ?? "0.1.0";
  const app = new Hono({ getPath: (request) => splitVersionedPath(new URL(request.url).pathname).path });

  app.use("*", async (c, next) => {
    const { version: requested } = splitVersionedPath(new URL(c.req.url).pathname);
    const refusal = requested === undefined ? undefined : checkApiVersion(requested);
    if (refusal) c.res = errorResponse(400, refusal);
    else await next();
    c.res.headers.set("Api-Version", API_VERSION);
    c.res.headers.set("Docker-Experimental", "false");
    c.res.headers.set("Ostype", PLATFORM.os);
    c.res.headers.set("Server", `Drydock/${version} (${PLATFORM.os})`);
  });

  app.onError((error) => {
    const { status, body } = errorBody(error);
    return errorResponse(status, body.message);
  });
  app.notFound(() => errorResponse(404, "page not found"));

  const ping = (c: Context) => {
    c.header("Cache-Control", "no-cache, no-store, must-revalidate");
    c.header("Pragma", "no-cache");
    c.header("Builder-Version", "1");
    return c.text(c.req.method === "HEAD" ? "" : "OK");
  };
  app.get("/_ping", ping);
  app.on("HEAD", "/_ping", ping);

  app.get("/version", (c) => {
    const details = {
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: "drydock",
      GoVersion: "TypeScript",
      Os: PLATFORM.os,
      Arch: PLATFORM.arch,
      KernelVersion: "",
      Experimental: "false",
      BuildTime: "",
    };
    return c.json({
      Platform: { Name: "Drydock" },
      Components: [{ Name: "Engine", Version: version, Details: details }],
      Version: version,
      ...details,
      Experimental: false,
    });
  });

  app.get("/info", async (c) => {
    const all = containers?.list({ all: true }) ?? [];
    const count = (status: string) => all.filter((container) => container.status === status).length;
    return c.json({
      ID: "drydock",
      Containers: all.length,
      ContainersRunning: count("running"),
      ContainersPaused: count("paused"),
      ContainersStopped: count("exited") + count("created"),
      Images: (await images.images()).length,
      Driver: "overlay",
      DriverStatus: [["Backing Filesystem", "9p"]],
      Plugins: { Volume: [], Network: ["none"], Authorization: null, Log: ["json-file"] },
      MemoryLimit: true,
      SwapLimit: false,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      PidsLimit: true,
      IPv4Forwarding: false,
      Debug: false,
      NFd: 0,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: "json-file",
      CgroupDriver: "cgroupfs",
      CgroupVersion: "2",
      NEventsListener: 0,
      KernelVersion: "",
      OperatingSystem: "Drydock (Linux in v86)",
      OSType: PLATFORM.os,
      Architecture: "i686",
      IndexServerAddress: "https://index.docker.io/v1/",
      RegistryConfig: {
        AllowNondistributableArtifactsCIDRs: [],
        AllowNondistributableArtifactsHostnames: [],
        InsecureRegistryCIDRs: [],
        IndexConfigs: {},
        Mirrors: [],
      },
      NCPU: 1,
      MemTotal: 0,
      DockerRootDir: options.root ?? "",
      Name: options.name ?? "drydock",
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: version,
      Runtimes: { drydock: { path: "drydock" } },
      DefaultRuntime: "drydock",
      Swarm: {
        NodeID: "",
        NodeAddr: "",
        LocalNodeState: "inactive",
        ControlAvailable: false,
        Error: "",
        RemoteManagers: null,
      },
      LiveRestoreEnabled: false,
      Isolation: "",
      InitBinary: "",
      ContainerdCommit: { ID: "", Expected: "" },
      RuncCommit: { ID: "", Expected: "" },
      InitCommit: { ID: "", Expected: "" },
      SecurityOptions: ["name=cgroupns"],
      Warnings: containers ? [] : ["WARNING: no guest is booted: containers cannot run"],
    });
  });

  app.get("/images/json", async (c) => {
    const list = await images.images();
    return c.json(
      list.map((image) => ({
        Id: image.id,
        ParentId: "",
        RepoTags: image.repoTags,
        RepoDigests: image.repoDigests,
        Created: unixSeconds(image.created),
        Size: image.size,
        VirtualSize: image.size,
        SharedSize: -1,
        Labels: {},
        Containers: -1,
      })),
    );
  });

  app.post("/images/create", async (c) => {
    const fromImage = c.req.query("fromImage");
    if (!fromImage)
      throw new EngineError("invalidArgument", "fromImage is required (importing with fromSrc is not supported)");
    const tag = c.req.query("tag");
    const reference = tag ? `${fromImage}${tag.includes(":") ? "@" : ":"}${tag}` : fromImage;
    return pullResponse(images, reference, tag);
  });

  app.get("/images/*", async (c) => {
    const path = c.req.path;
    if (path.endsWith("/json")) {
      const name = imageName(path, "/json");
      const details = await withImage(name, () => images.image(name));
      const summary = (await images.images()).find((image) => image.id === details.record.config.digest);
      const size = details.layers.reduce((sum, layer) => sum + layer.size, 0);
      return c.json({
        Id: details.record.config.digest,
        RepoTags: summary?.repoTags ?? [],
        RepoDigests: summary?.repoDigests ?? [],
        Parent: "",
        Comment: "",
        Created: details.config.created ?? "",
        Container: "",
        DockerVersion: "",
        Author: details.config.author ?? "",
        Config: details.config.config ?? null,
        Architecture: details.config.architecture,
        Variant: details.config.variant,
        Os: details.config.os,
        Size: size,
        VirtualSize: size,
        GraphDriver: { Name: "overlay", Data: null },
        RootFS: { Type: "layers", Layers: details.config.rootfs.diff_ids },
        Metadata: { LastTagTime: details.record.pulledAt },
      });
    }
    if (path.endsWith("/history")) {
      const name = imageName(path, "/history");
      const details = await withImage(name, () => images.image(name));
      const steps = await images.history(name);
      return c.json(
        steps.map((step, index) => ({
          Id: index === 0 ? details.record.config.digest : "<missing>",
          Created: unixSeconds(step.created),
          CreatedBy: step.createdBy,
          Tags: index === 0 ? [] : null,
          Size: step.size,
          Comment: step.comment ?? "",
        })),
      );
    }
    return errorResponse(404, "page not found");
  });

  app.delete("/images/*", async (c) => {
    const name = imageName(c.req.path, "");
    const removed = await withImage(name, () => images.removeImage(name, { force: flag(c.req.query("force")) }));
    return c.json(
      removed.map((item) => ("untagged" in item ? { Untagged: item.untagged } : { Deleted: item.deleted })),
    );
  });

  app.get("/containers/json", (c) => {
    const list = containers?.list({ all: flag(c.req.query("all")) }) ?? [];
    return c.json(
      list.map((summary) => {
        const details = containers?.inspect(summary.id);
        return containerJson(summary, {
          startedAt: details?.startedAt,
          exitCode: details?.exit?.code,
          finishedAt: details?.exit?.finishedAt,
        });
      }),
    );
  });

  return app;
}

/**
 * `POST /images/create`: the pull's progress as Docker's JSON lines. Like dockerd, the answer's status waits for the
 * first line, so a pull that fails at once (unknown image, registry down) is an HTTP error, not a stream.
 */
async function pullResponse(images: ImageService, reference: string, tag?: string): Promise<Response> {
  const encoder = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start: (c) => {
      controller = c;
    },
  });
  const send = (line: Record<string, unknown>) => controller.enqueue(encoder.encode(`${JSON.stringify(line)}\r\n`));
  let started!: () => void;
  const firstLine = new Promise<void>((resolve) => {
    started = resolve;
  });
  const seen = new Map<string, string>();
  let headed = false;
  const head = () => {
    if (headed) return;
    headed = true;
    send({ status: `Pulling from ${parseReference(reference).repository}`, id: tag ?? "latest" });
    started();
  };
  const pull = images.pull(reference, {
    onProgress: (progress) => {
      head();
      const line = progressLine(progress);
      if (seen.get(progress.id) === "Pull complete" || seen.get(progress.id) === "Already exists") return;
      if (progress.status === "complete" && seen.get(progress.id) === "Downloading") {
        send({ status: "Download complete", progressDetail: {}, id: progress.id });
      }
      seen.set(progress.id, line.status as string);
      send(line);
    },
  });
  const outcome = pull.then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  await Promise.race([firstLine, outcome]);
  if (!headed) {
    const settled = await outcome;
    if ("error" in settled) {
      const { status, body: error } = errorBody(settled.error);
      return errorResponse(status, error.message);
    }
    head();
  }
  void outcome.then((settled) => {
    if ("error" in settled) {
      const message = errorBody(settled.error).body.message;
      send({ errorDetail: { message }, error: message });
    } else {
      send({ status: `Digest: ${settled.result.digest}` });
      send({
        status: settled.result.upToDate
          ? `Status: Image is up to date for ${settled.result.name}`
          : `Status: Downloaded newer image for ${settled.result.name}`,
      });
    }
    controller.close();
  });
  return new Response(body, { headers: { "content-type": "application/json" } });
}
