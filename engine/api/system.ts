// System routes: _ping, version, info (with the guest's kernel, CPUs and memory), events (a JSON-lines stream of
// container and image events) and system/df.
import type { Context, Hono } from "hono";
import { GUEST_RUNTIME, type HostInfo, RUNTIMES } from "../container-service.ts";
import type { EngineEvent, EventLog } from "../events.ts";
import { type ApiOptions, imageSummaryJson, PLATFORM } from "./common.ts";
import { containerJson } from "./containers.ts";
import { parseEventTime, parseFilters } from "./filters.ts";
import { swarmInfoOf } from "./swarm.ts";
import { API_VERSION, MIN_API_VERSION } from "./version.ts";
import { volumeJson } from "./volumes.ts";

/** A `docker events` message as dockerd writes it (both the old `status`/`id`/`from` and the newer fields). */
export function eventMessage(event: EngineEvent): Record<string, unknown> {
  const message: Record<string, unknown> = {};
  if (event.type === "container") {
    message.status = event.action;
    message.id = event.id;
    message.from = event.attributes.image ?? "";
  } else {
    message.status = event.action;
    message.id = event.id;
  }
  return {
    ...message,
    Type: event.type,
    Action: event.action === "exec_create" || event.action === "exec_start" ? execAction(event) : event.action,
    Actor: { ID: event.id, Attributes: event.attributes },
    scope: "local",
    time: Math.floor(event.time / 1000),
    timeNano: event.time * 1_000_000,
  };
}

/** dockerd names an exec's events with its command: `exec_start: sh -c date`. */
function execAction(event: EngineEvent): string {
  const command = event.attributes.execCommand;
  return command ? `${event.action}: ${command}` : event.action;
}

/** Whether an event passes `docker events --filter` (type, event, container, image). */
function eventMatches(event: EngineEvent, filters: Record<string, string[]>): boolean {
  const any = (key: string, test: (value: string) => boolean) => !filters[key] || filters[key].some(test);
  const isContainer = event.type === "container";
  return (
    any("type", (type) => type === event.type) &&
    any("event", (action) => action === event.action || action === event.action.split(":")[0]) &&
    any(
      "container",
      (ref) => isContainer && (event.id.startsWith(ref) || event.attributes.name === ref.replace(/^\//, "")),
    ) &&
    any("image", (ref) =>
      isContainer ? event.attributes.image === ref : event.attributes.name === ref || event.id === ref,
    )
  );
}

/** The events answer: those kept since `since`, then live ones until `until` or until the client goes. */
/** Events queued for one subscriber before more are dropped (dockerd's events buffer). */
const EVENT_BUFFER = 1024;

function eventsResponse(
  log: EventLog,
  since: number | undefined,
  until: number | undefined,
  filters: Record<string, string[]>,
) {
  const encoder = new TextEncoder();
  let stop = () => {};
  const body = new ReadableStream<Uint8Array>(
    {
      start: (controller) => {
        const message = (event: EngineEvent) => encoder.encode(`${JSON.stringify(eventMessage(event))}\n`);
        // A subscriber that does not keep up loses events rather than growing the engine's memory: dockerd's pubsub
        // drops an event for a subscriber whose buffer of 1024 is full, and so does this.
        const send = (event: EngineEvent) => {
          if (eventMatches(event, filters) && (controller.desiredSize ?? 0) > 0) controller.enqueue(message(event));
        };
        const now = Date.now();
        // The history asked for is bounded by the event log's own size: all of it is queued.
        if (since !== undefined) {
          for (const event of log.history(since)) {
            if ((until === undefined || event.time <= until) && eventMatches(event, filters)) {
              controller.enqueue(message(event));
            }
          }
        }
        if (until !== undefined && until <= now) {
          controller.close();
          return;
        }
        const off = log.on(send);
        const timer =
          until === undefined
            ? undefined
            : setTimeout(() => {
                stop();
                controller.close();
              }, until - now);
        stop = () => {
          off();
          clearTimeout(timer);
        };
      },
      cancel: () => stop(),
    },
    new CountQueuingStrategy({ highWaterMark: EVENT_BUFFER }),
  );
  return new Response(body, { headers: { "content-type": "application/json" } });
}

/**
 * The system routes.
 * @example
 * registerSystemRoutes(app, { images, containers });
 */
export function registerSystemRoutes(app: Hono, options: ApiOptions): void {
  const { images } = options;
  const version = options.version ?? "0.1.0";
  // Read at each request: a supervisor replaces the container service when it restores a failed guest.
  const host = async (): Promise<HostInfo | undefined> => options.containers?.host().catch(() => undefined);

  const ping = (c: Context) => {
    c.header("Cache-Control", "no-cache, no-store, must-revalidate");
    c.header("Pragma", "no-cache");
    c.header("Builder-Version", "1");
    return c.text(c.req.method === "HEAD" ? "" : "OK");
  };
  app.get("/_ping", ping);
  app.on("HEAD", "/_ping", ping);

  app.get("/version", async (c) => {
    const details = {
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: "drydock",
      GoVersion: "TypeScript",
      Os: PLATFORM.os,
      Arch: PLATFORM.arch,
      KernelVersion: (await host())?.kernelVersion ?? "",
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
    const containers = options.containers;
    const all = containers?.list({ all: true }) ?? [];
    const count = (status: string) => all.filter((container) => container.status === status).length;
    const guest = await host();
    return c.json({
      ID: options.id ?? "drydock",
      Containers: all.length,
      ContainersRunning: count("running"),
      ContainersPaused: count("paused"),
      ContainersStopped: count("exited") + count("created"),
      Images: (await images.images()).length,
      Driver: "overlay",
      DriverStatus: [["Backing Filesystem", "9p"]],
      Plugins: {
        Volume: containers?.volumes.drivers() ?? ["local"],
        Network: ["none"],
        Authorization: null,
        Log: ["json-file"],
      },
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
      KernelVersion: guest?.kernelVersion ?? "",
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
      NCPU: guest?.ncpu ?? 0,
      MemTotal: guest?.memTotal ?? 0,
      DockerRootDir: options.root ?? "",
      Name: options.name ?? "drydock",
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: version,
      Runtimes: Object.fromEntries(Object.entries(RUNTIMES).map(([name, { path }]) => [name, { path }])),
      DefaultRuntime: GUEST_RUNTIME,
      Swarm: await swarmInfoOf(options),
      LiveRestoreEnabled: false,
      Isolation: "",
      InitBinary: "",
      ContainerdCommit: { ID: "", Expected: "" },
      RuncCommit: { ID: "", Expected: "" },
      InitCommit: { ID: "", Expected: "" },
      // As dockerd reports them: every container gets Docker's default seccomp profile (drydockd's builtin table),
      // execs with no_new_privs (as `dockerd --no-new-privileges`) and in its own cgroup namespace.
      SecurityOptions: ["name=seccomp,profile=builtin", "name=no-new-privileges", "name=cgroupns"],
      Warnings: containers ? [] : ["WARNING: no guest is booted: containers cannot run"],
    });
  });

  app.get("/events", (c) => {
    const since = parseEventTime(c.req.query("since"), "since");
    const until = parseEventTime(c.req.query("until"), "until");
    return eventsResponse(images.events, since, until, parseFilters(c.req.query("filters")));
  });

  app.get("/system/df", async (c) => {
    const containers = options.containers;
    const list = await images.images();
    const all = containers?.list({ all: true }) ?? [];
    const sizes = await Promise.all(all.map((container) => containers!.diskUsage(container.id).catch(() => 0)));
    return c.json({
      LayersSize: list.reduce((sum, image) => sum + image.size, 0),
      Images: list.map((image) => imageSummaryJson(image, all, 0)),
      Containers: all.map((summary, index) => {
        const details = containers!.inspect(summary.id);
        const imageSize = list.find((image) => image.id === summary.imageId)?.size ?? 0;
        return {
          ...containerJson(summary, {
            startedAt: details.startedAt,
            exitCode: details.exit?.code,
            finishedAt: details.exit?.finishedAt,
          }),
          SizeRw: sizes[index],
          SizeRootFs: imageSize + (sizes[index] ?? 0),
        };
      }),
      // One row per volume with its size and how many containers use it (`docker system df -v`).
      Volumes: containers
        ? await Promise.all(
            containers.volumes.list().map(async (volume) =>
              volumeJson(volume, {
                size: await containers.volumes.size(volume.name).catch(() => -1),
                refCount: containers.volumes.users(volume.name).length,
              }),
            ),
          )
        : [],
      BuildCache: [],
    });
  });
}
