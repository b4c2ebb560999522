// Swarm routes: /swarm (init, join, leave, update, inspect), /nodes, /services (create, inspect, update, remove,
// logs) and /tasks, in the Engine API's shapes, over the cluster's SwarmManager as seen from this node. Only managers
// answer the cluster's state; other nodes get dockerd's refusal.
import type { Hono } from "hono";
import { encodeFrame } from "../conventions/index.ts";
import { EngineError } from "../errors.ts";
import type { LogEntry } from "../runtime/logs.ts";
import {
  type Availability,
  type Role,
  SWARM_PORT,
  type SwarmInfo,
  type SwarmManager,
  type SwarmNode,
  type SwarmService,
  type SwarmTask,
} from "../swarm/index.ts";
import { type ApiOptions, flag, goTime, json, jsonBody, requestApiVersion } from "./common.ts";
import { acceptFilters, type Filters, labelsMatch, parseFilters } from "./filters.ts";
import { streamContentType } from "./streams.ts";

/** This node's place in its cluster's swarm. */
export interface SwarmApi {
  manager: SwarmManager;
  /** The cluster member this API serves (node1, node2, …). */
  member: string;
}

const version = (index: number) => ({ Index: index });

/** The swarm's spec with swarmkit's defaults under what was given. */
function swarmSpec(given: Record<string, unknown>) {
  return {
    Name: "default",
    Labels: {},
    Orchestration: { TaskHistoryRetentionLimit: 5 },
    Raft: {
      SnapshotInterval: 10000,
      KeepOldSnapshots: 0,
      LogEntriesForSlowFollowers: 500,
      ElectionTick: 10,
      HeartbeatTick: 1,
    },
    Dispatcher: { HeartbeatPeriod: 5_000_000_000 },
    CAConfig: { NodeCertExpiry: 7_776_000_000_000_000 },
    TaskDefaults: {},
    EncryptionConfig: { AutoLockManagers: false },
    ...given,
  };
}

/** The cluster part of `GET /swarm` and of `docker info`'s Swarm.Cluster. */
export function clusterJson(swarm: SwarmInfo) {
  return {
    ID: swarm.id,
    Version: version(swarm.version),
    CreatedAt: goTime(swarm.createdAt),
    UpdatedAt: goTime(swarm.updatedAt),
    Spec: swarmSpec(swarm.spec),
    TLSInfo: { TrustRoot: "", CertIssuerSubject: "", CertIssuerPublicKey: "" },
    RootRotationInProgress: false,
    DefaultAddrPool: ["10.0.0.0/8"],
    SubnetSize: 16,
    DataPathPort: 4789,
  };
}

/** The paths a node hands to its swarm link (and only they). */
const SWARM_PATHS = ["/swarm", "/nodes", "/services", "/tasks"];

/** `docker info`'s Swarm section for the node `options` serve: its own manager's answer, or its link's. */
export async function swarmInfoOf(options: ApiOptions) {
  if (options.swarm || !options.swarmLink) return swarmInfoJson(options.swarm);
  try {
    const answer = await options.swarmLink(new Request("http://docker/info"));
    const info = (await answer.json()) as { Swarm?: ReturnType<typeof swarmInfoJson> };
    if (info.Swarm) return info.Swarm;
  } catch {
    // The managers' worker is gone: this node knows of no swarm.
  }
  return swarmInfoJson(undefined);
}

/** `docker info`'s Swarm section for a node: inactive, or its place in the swarm. */
export function swarmInfoJson(api: SwarmApi | undefined) {
  const node = api?.manager.nodeOf(api.member);
  const swarm = api?.manager.swarm;
  if (!api || !node || !swarm) {
    return {
      NodeID: "",
      NodeAddr: "",
      LocalNodeState: "inactive",
      ControlAvailable: false,
      Error: "",
      RemoteManagers: null,
    };
  }
  const managers = api.manager.managers();
  const isManager = node.role === "manager";
  return {
    NodeID: node.id,
    NodeAddr: node.address,
    LocalNodeState: "active",
    ControlAvailable: isManager,
    Error: "",
    RemoteManagers: managers.map((manager) => ({ NodeID: manager.id, Addr: `${manager.address}:${SWARM_PORT}` })),
    ...(isManager
      ? {
          Nodes: api.manager.nodes().length,
          Managers: managers.length,
          Cluster: clusterJson(swarm),
        }
      : {}),
  };
}

export function nodeJson(node: SwarmNode) {
  return {
    ID: node.id,
    Version: version(node.version),
    CreatedAt: goTime(node.createdAt),
    UpdatedAt: goTime(node.updatedAt),
    Spec: { Labels: node.labels, Role: node.role, Availability: node.availability },
    Description: {
      Hostname: node.hostname,
      Platform: { Architecture: "386", OS: "linux" },
      Resources: { NanoCPUs: 1_000_000_000, MemoryBytes: 0 },
      Engine: { EngineVersion: "drydock", Labels: {}, Plugins: [{ Type: "Network", Name: "bridge" }] },
      TLSInfo: { TrustRoot: "", CertIssuerSubject: "", CertIssuerPublicKey: "" },
    },
    Status: {
      State: node.ready ? "ready" : "down",
      Addr: node.address,
      ...(node.left ? { Message: "left the swarm" } : {}),
    },
    ...(node.role === "manager" && !node.left
      ? {
          ManagerStatus: {
            Leader: node.leader,
            Reachability: node.ready ? "reachable" : "unreachable",
            Addr: `${node.address}:${SWARM_PORT}`,
          },
        }
      : {}),
  };
}

function specWithDefaults(spec: Record<string, unknown>) {
  const mode = (spec.Mode as Record<string, unknown> | undefined) ?? { Replicated: { Replicas: 1 } };
  return {
    ...spec,
    Labels: spec.Labels ?? {},
    Mode:
      mode.Replicated && (mode.Replicated as Record<string, unknown>).Replicas === undefined
        ? { Replicated: { Replicas: 1 } }
        : mode,
    EndpointSpec: spec.EndpointSpec ?? { Mode: "vip" },
  };
}

export function serviceJson(service: SwarmService, tasks: SwarmTask[], withStatus: boolean) {
  const running = tasks.filter(
    (task) => task.serviceId === service.id && task.state === "running" && task.desired === "running",
  );
  const nodes = new Set(tasks.map((task) => task.nodeId));
  return {
    ID: service.id,
    Version: version(service.version),
    CreatedAt: goTime(service.createdAt),
    UpdatedAt: goTime(service.updatedAt),
    Spec: specWithDefaults(service.spec),
    ...(service.previousSpec ? { PreviousSpec: specWithDefaults(service.previousSpec) } : {}),
    Endpoint: {
      Spec: service.spec.EndpointSpec ?? { Mode: "vip" },
      ...(service.plan.ports.length
        ? {
            Ports: service.plan.ports.map((port) => ({
              Protocol: port.protocol,
              TargetPort: port.targetPort,
              PublishedPort: port.publishedPort,
              PublishMode: port.publishMode,
            })),
          }
        : {}),
    },
    ...(service.update
      ? {
          UpdateStatus: {
            State: service.update.state,
            StartedAt: goTime(service.update.startedAt),
            ...(service.update.completedAt ? { CompletedAt: goTime(service.update.completedAt) } : {}),
            Message: service.update.message,
          },
        }
      : {}),
    ...(withStatus
      ? {
          ServiceStatus: {
            RunningTasks: running.length,
            DesiredTasks: service.plan.replicas ?? nodes.size,
            CompletedTasks: 0,
          },
        }
      : {}),
  };
}

export function taskJson(task: SwarmTask) {
  return {
    ID: task.id,
    Version: version(task.version),
    CreatedAt: goTime(task.createdAt),
    UpdatedAt: goTime(task.updatedAt),
    Labels: {},
    Spec: task.spec,
    ServiceID: task.serviceId,
    ...(task.slot !== undefined ? { Slot: task.slot } : {}),
    ...(task.nodeId ? { NodeID: task.nodeId } : {}),
    Status: {
      Timestamp: goTime(task.stateAt),
      State: task.state,
      Message: task.message,
      ...(task.err ? { Err: task.err } : {}),
      ...(task.containerId
        ? { ContainerStatus: { ContainerID: task.containerId, PID: 0, ExitCode: task.exitCode ?? 0 } }
        : {}),
      PortStatus: {},
    },
    DesiredState: task.desired,
    NetworksAttachments: Object.entries(task.addresses).map(([network, address]) => ({
      Network: { ID: network, Spec: { Name: network } },
      Addresses: [`${address}/24`],
    })),
  };
}

const numberQuery = (value: string | undefined, what: string): number => {
  const parsed = Number(value);
  if (value === undefined || !Number.isInteger(parsed)) {
    throw new EngineError(
      "invalidArgument",
      `${what}: the version query parameter (an object's Version.Index) is required`,
    );
  }
  return parsed;
};

const any = (filters: Filters, key: string, test: (value: string) => boolean) =>
  !filters[key] || filters[key].some(test);

/**
 * The swarm routes.
 * @example
 * registerSwarmRoutes(app, { images, swarm: { manager, member: "node1" } });
 */
export function registerSwarmRoutes(app: Hono, options: ApiOptions): void {
  const link = options.swarmLink;
  if (!options.swarm && link) {
    // The request as it came (version prefix, query and body), answered by the managers' engine for this node.
    for (const path of SWARM_PATHS) {
      app.all(path, (c) => link(c.req.raw));
      app.all(`${path}/*`, (c) => link(c.req.raw));
    }
    return;
  }
  const api = (): SwarmApi => {
    if (!options.swarm) {
      throw new EngineError(
        "unavailable",
        "this daemon has one node: start it as a cluster (drydock daemon --nodes 3) to make a swarm",
      );
    }
    return options.swarm;
  };
  const manager = () => {
    const { manager, member } = api();
    manager.requireManager(member);
    return manager;
  };

  app.get("/swarm", () => {
    const { manager: swarm, member } = api();
    swarm.requireManager(member);
    const info = swarm.swarm!;
    return json({ ...clusterJson(info), JoinTokens: { Worker: info.tokens.worker, Manager: info.tokens.manager } });
  });

  app.post("/swarm/init", async (c) => {
    const body = await jsonBody(c);
    const { manager: swarm, member } = api();
    const availability = readAvailability(body.Availability);
    const id = swarm.init(member, {
      ...(availability ? { availability } : {}),
      ...(body.Spec && typeof body.Spec === "object" ? { spec: body.Spec as Record<string, unknown> } : {}),
    });
    return json(id);
  });

  app.post("/swarm/join", async (c) => {
    const body = await jsonBody(c);
    const { manager: swarm, member } = api();
    const availability = readAvailability(body.Availability);
    swarm.join(member, {
      token: typeof body.JoinToken === "string" ? body.JoinToken : "",
      remoteAddrs: Array.isArray(body.RemoteAddrs)
        ? body.RemoteAddrs.filter((a): a is string => typeof a === "string")
        : [],
      ...(availability ? { availability } : {}),
    });
    return new Response(null, { status: 200 });
  });

  app.post("/swarm/leave", (c) => {
    const { manager: swarm, member } = api();
    swarm.leave(member, flag(c.req.query("force")));
    return new Response(null, { status: 200 });
  });

  app.post("/swarm/update", async (c) => {
    const body = await jsonBody(c);
    const { manager: swarm, member } = api();
    swarm.update(member, numberQuery(c.req.query("version"), "swarm update"), body, {
      worker: flag(c.req.query("rotateWorkerToken")),
      manager: flag(c.req.query("rotateManagerToken")),
    });
    return new Response(null, { status: 200 });
  });

  app.get("/swarm/unlockkey", () => {
    manager();
    return json({ UnlockKey: "" });
  });

  app.get("/nodes", (c) => {
    const filters = parseFilters(c.req.query("filters"));
    acceptFilters(filters, ["id", "name", "role", "membership", "label", "node.label"]);
    const nodes = manager()
      .nodes()
      .filter(
        (node) =>
          any(filters, "id", (id) => node.id.startsWith(id)) &&
          any(filters, "name", (name) => node.hostname.startsWith(name)) &&
          any(filters, "role", (role) => role === node.role) &&
          any(filters, "membership", (membership) => membership === (node.left ? "pending" : "accepted")) &&
          labelsMatch(node.labels, filters["node.label"]),
      );
    return json(nodes.map(nodeJson));
  });

  app.get("/nodes/:id", (c) => json(nodeJson(manager().node(c.req.param("id")))));

  app.post("/nodes/:id/update", async (c) => {
    const body = await jsonBody(c);
    const role = body.Role;
    if (role !== undefined && role !== "manager" && role !== "worker") {
      throw new EngineError("invalidArgument", `invalid role ${JSON.stringify(role)}: manager or worker`);
    }
    const availability = readAvailability(body.Availability);
    const labels = body.Labels && typeof body.Labels === "object" ? (body.Labels as Record<string, string>) : {};
    manager().updateNode(c.req.param("id"), numberQuery(c.req.query("version"), "node update"), {
      ...(role ? { role: role as Role } : {}),
      ...(availability ? { availability } : {}),
      labels,
    });
    return new Response(null, { status: 200 });
  });

  app.delete("/nodes/:id", (c) => {
    manager().removeNode(c.req.param("id"), flag(c.req.query("force")));
    return new Response(null, { status: 200 });
  });

  app.get("/services", (c) => {
    const filters = parseFilters(c.req.query("filters"));
    acceptFilters(filters, ["id", "name", "label", "mode"]);
    const swarm = manager();
    const tasks = swarm.tasks();
    const services = swarm
      .services()
      .filter(
        (service) =>
          any(filters, "id", (id) => service.id.startsWith(id)) &&
          any(filters, "name", (name) => service.plan.name.startsWith(name)) &&
          any(filters, "mode", (mode) => mode === (service.plan.replicas === undefined ? "global" : "replicated")) &&
          labelsMatch((service.spec.Labels as Record<string, string> | undefined) ?? {}, filters.label),
      );
    return json(services.map((service) => serviceJson(service, tasks, flag(c.req.query("status")))));
  });

  app.post("/services/create", async (c) => {
    const body = await jsonBody(c);
    const service = manager().createService(body);
    return json({ ID: service.id, Warnings: null }, 201);
  });

  app.get("/services/:id", (c) => {
    const swarm = manager();
    return json(serviceJson(swarm.service(c.req.param("id")), swarm.tasks(), false));
  });

  app.post("/services/:id/update", async (c) => {
    const body = await jsonBody(c);
    manager().updateService(c.req.param("id"), numberQuery(c.req.query("version"), "service update"), body, {
      rollback: c.req.query("rollback") === "previous",
    });
    return json({ Warnings: null });
  });

  app.delete("/services/:id", (c) => {
    manager().removeService(c.req.param("id"));
    return new Response(null, { status: 200 });
  });

  app.get("/services/:id/logs", async (c) => {
    const swarm = manager();
    const service = swarm.service(c.req.param("id"));
    return logsResponse(
      c.req.query.bind(c.req),
      swarm,
      swarm.tasks().filter((task) => task.serviceId === service.id),
      service.plan.tty,
      requestApiVersion(c),
    );
  });

  app.get("/tasks", (c) => {
    const filters = parseFilters(c.req.query("filters"));
    acceptFilters(filters, ["id", "name", "service", "node", "desired-state", "label", "_up-to-date"]);
    const swarm = manager();
    const serviceIds = filters.service?.map((ref) => {
      try {
        return swarm.service(ref).id;
      } catch {
        return ref;
      }
    });
    const nodeIds = filters.node?.map((ref) => {
      try {
        return swarm.node(ref).id;
      } catch {
        return ref;
      }
    });
    const services = new Map(swarm.services().map((service) => [service.id, service]));
    const tasks = swarm
      .tasks()
      .filter(
        (task) =>
          (!serviceIds || serviceIds.includes(task.serviceId)) &&
          (!nodeIds || nodeIds.includes(task.nodeId)) &&
          any(filters, "id", (id) => task.id.startsWith(id)) &&
          any(filters, "name", (name) => `${task.serviceName}.${task.slot ?? task.nodeId}`.startsWith(name)) &&
          any(filters, "desired-state", (state) => state === task.desired) &&
          (!filters["_up-to-date"] || task.template === services.get(task.serviceId)?.template),
      );
    return json(tasks.map(taskJson));
  });

  app.get("/tasks/:id", (c) => json(taskJson(manager().task(c.req.param("id")))));

  app.get("/tasks/:id/logs", async (c) => {
    const swarm = manager();
    const task = swarm.task(c.req.param("id"));
    return logsResponse(c.req.query.bind(c.req), swarm, [task], task.plan.tty, requestApiVersion(c));
  });
}

function readAvailability(value: unknown): Availability | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (value !== "active" && value !== "pause" && value !== "drain") {
    throw new EngineError("invalidArgument", `invalid availability ${JSON.stringify(value)}: active, pause or drain`);
  }
  return value;
}

/**
 * The logs of tasks' containers as one answer; with `details`, each line prefixed with its task's details
 * (`com.docker.swarm.node.id=…,com.docker.swarm.service.id=…,com.docker.swarm.task.id=… `) for the CLI to name.
 */
async function logsResponse(
  query: (key: string) => string | undefined,
  swarm: SwarmManager,
  tasks: SwarmTask[],
  tty: boolean,
  apiVersion: string,
): Promise<Response> {
  const stdout = flag(query("stdout"));
  const stderr = flag(query("stderr"));
  if (!stdout && !stderr)
    throw new EngineError("invalidArgument", "Bad parameters: you must choose at least one stream");
  const timestamps = flag(query("timestamps"));
  const details = flag(query("details"));
  const follow = flag(query("follow"));
  const from = Date.now();
  const tailText = query("tail") ?? "all";
  const tail = tailText === "all" || tailText === "" ? undefined : Number(tailText);
  const lines: LogEntry[] = [];
  const encoder = new TextEncoder();
  /** With --follow: each running task's output from now on, each with its task's prefix. */
  const followed: { stream: ReadableStream<LogEntry>; prefix: string }[] = [];
  const framed = (entry: LogEntry, prefix: string): LogEntry[] => {
    if (entry.stream === "stdout" ? !stdout : !stderr) return [];
    const out: LogEntry[] = [];
    for (const line of new TextDecoder().decode(entry.data).split(/(?<=\n)/)) {
      if (!line) continue;
      const stamp = timestamps ? `${new Date(entry.time).toISOString().replace("Z", "000000Z")} ` : "";
      out.push({ ...entry, data: encoder.encode(`${stamp}${prefix}${line}`) });
    }
    return out;
  };
  for (const task of tasks) {
    const engine = swarm.engineOf(task);
    if (!engine || !task.containerId || task.cleaned) continue;
    let entries: LogEntry[];
    try {
      entries = await collect(await engine.logs(task.containerId));
    } catch (error) {
      swarm.report(`swarm: reading task ${task.id}'s logs on ${task.nodeId}: ${String(error)}`);
      continue;
    }
    // The CLI reads each line's task from them: it asks with details=1 unless --raw.
    const prefix = details
      ? `com.docker.swarm.node.id=${task.nodeId},com.docker.swarm.service.id=${task.serviceId},com.docker.swarm.task.id=${task.id} `
      : "";
    let own = entries.filter((entry) => entry.time < from).flatMap((entry) => framed(entry, prefix));
    if (follow && task.state === "running") {
      try {
        followed.push({ stream: await engine.logs(task.containerId, { follow: true, since: from }), prefix });
      } catch {
        // Gone meanwhile: nothing more of it.
      }
    }
    if (tail !== undefined && Number.isFinite(tail)) own = tail > 0 ? own.slice(-tail) : [];
    lines.push(...own);
  }
  lines.sort((a, b) => a.time - b.time);
  const bytes = (entry: LogEntry) => (tty ? entry.data : encodeFrame(entry.stream, entry.data));
  const readers = followed.map(({ stream, prefix }) => ({ reader: stream.getReader(), prefix }));
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      for (const entry of lines) controller.enqueue(bytes(entry));
      // Followed tasks' new lines as they come, until every one of them ends or the client goes.
      await Promise.all(
        readers.map(async ({ reader, prefix }) => {
          try {
            for (let next = await reader.read(); !next.done; next = await reader.read()) {
              for (const entry of framed(next.value, prefix)) controller.enqueue(bytes(entry));
            }
          } catch {
            // The task's container went away.
          }
        }),
      );
      try {
        controller.close();
      } catch {
        // Cancelled by the client.
      }
    },
    cancel() {
      for (const { reader } of readers) void reader.cancel().catch(() => {});
    },
  });
  return new Response(body, { headers: { "content-type": streamContentType(tty, apiVersion) } });
}

async function collect(stream: ReadableStream<LogEntry>): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for (const reader = stream.getReader(); ; ) {
    const { value, done } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}
