// `docker service create|ls|ps|logs|inspect|scale|update|rm` (on a manager): a ServiceSpec made from the flags docker
// takes, docker's tables of services and tasks, and, unless --detach, the wait until the tasks converge that docker
// shows as its progress.
import { humanDuration } from "../conventions/index.ts";
import { copyOutput } from "./attach.ts";
import type { DockerClient } from "./client.ts";
import { defineVerb } from "./command.ts";
import { CliError, DaemonError } from "./errors.ts";
import { FlagError, listFlags } from "./flags.ts";
import { compileTemplate, renderTemplate, writeFormatted } from "./format.ts";
import { demultiplex, settle } from "./frames.ts";
import { LOG_FLAGS } from "./logs.ts";
import type { NodeJson } from "./node.ts";
import type { Output } from "./output.ts";
import { filtersJson } from "./ps.ts";
import { interruptible } from "./signals.ts";
import { goStruct } from "./template.ts";

type Spec = Record<string, unknown> & {
  Name: string;
  TaskTemplate: Record<string, unknown> & { ContainerSpec: Record<string, unknown> };
  Mode?: { Replicated?: { Replicas?: number }; Global?: Record<string, never> };
  UpdateConfig?: Record<string, unknown>;
  EndpointSpec?: { Mode?: string; Ports?: PortJson[] };
};

interface PortJson {
  Protocol: string;
  TargetPort: number;
  PublishedPort: number;
  PublishMode?: string;
}

interface ServiceJson {
  ID: string;
  Version: { Index: number };
  Spec: Spec;
  Endpoint?: { Ports?: PortJson[] };
  ServiceStatus?: { RunningTasks: number; DesiredTasks: number };
  UpdateStatus?: { State: string; Message: string };
}

interface TaskJson {
  ID: string;
  ServiceID: string;
  Slot?: number;
  NodeID?: string;
  CreatedAt: string;
  Spec: { ContainerSpec?: { Image?: string } };
  Status: { Timestamp: string; State: string; Message: string; Err?: string };
  DesiredState: string;
}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration (`10s`, `1m30s`, `500ms`) in nanoseconds. */
export function goDurationNs(text: string, flag: string): number {
  if (text === "0") return 0;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join("") !== text) {
    throw new FlagError(`invalid argument "${text}" for "--${flag}" flag: time: invalid duration "${text}"`);
  }
  return Math.round(parts.reduce((sum, part) => sum + Number(part[1]) * UNITS[part[2]!]!, 0));
}

/** `-p 8080:80`, `-p 8080:80/udp` or `-p published=8080,target=80[,protocol=udp]`. */
function parsePort(text: string): PortJson {
  let published: string | undefined;
  let target: string | undefined;
  let protocol = "tcp";
  if (text.includes("=")) {
    for (const field of text.split(",")) {
      const [key, value = ""] = field.split("=");
      if (key === "published") published = value;
      else if (key === "target") target = value;
      else if (key === "protocol") protocol = value;
      else if (key === "mode" && value !== "ingress") {
        throw new FlagError(
          `invalid argument "${text}" for "-p, --publish" flag: Drydock publishes through the routing mesh (mode=ingress)`,
        );
      }
    }
  } else {
    const [ports = "", proto] = text.split("/");
    if (proto) protocol = proto;
    const pieces = ports.split(":");
    if (pieces.length !== 2) {
      throw new FlagError(
        `invalid argument "${text}" for "-p, --publish" flag: publish a port as PUBLISHED:TARGET (-p 8080:80)`,
      );
    }
    [published, target] = pieces;
  }
  const number = (value: string | undefined) => (value !== undefined && /^\d+$/.test(value) ? Number(value) : NaN);
  if (!Number.isInteger(number(target)) || !Number.isInteger(number(published))) {
    throw new FlagError(`invalid argument "${text}" for "-p, --publish" flag: ports are numbers (-p 8080:80)`);
  }
  return { Protocol: protocol, TargetPort: number(target), PublishedPort: number(published), PublishMode: "ingress" };
}

function pairs(list: readonly string[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const entry of list) {
    const equals = entry.indexOf("=");
    map[equals < 0 ? entry : entry.slice(0, equals)] = equals < 0 ? "" : entry.slice(equals + 1);
  }
  return map;
}

const title = (text: string) => (text ? text[0]!.toUpperCase() + text.slice(1) : text);

/** The tasks of a service meant to run, and how many of them run. */
async function progress(client: DockerClient, id: string) {
  const service = await client.json<ServiceJson>("GET", `/services/${id}`);
  const tasks = await client.json<TaskJson[]>("GET", "/tasks", {
    query: { filters: JSON.stringify({ service: { [id]: true }, "desired-state": { running: true } }) },
  });
  const nodes = await client.json<NodeJson[]>("GET", "/nodes");
  const replicas = service.Spec.Mode?.Replicated?.Replicas;
  const desired =
    replicas ?? nodes.filter((node) => node.Status.State === "ready" && node.Spec.Availability === "active").length;
  const running = tasks.filter((task) => task.Status.State === "running");
  const updating = service.UpdateStatus?.State === "updating" || service.UpdateStatus?.State === "rollback_started";
  return { tasks, desired, running: running.length, updating, failed: tasks.find((task) => task.Status.Err) };
}

/**
 * Waits until a service's tasks converge (docker's `overall progress: 3 out of 3 tasks … verify: Service converged`),
 * saying how far they are; gives up after `timeoutMs` with what is missing.
 */
async function waitConverged(client: DockerClient, out: Output, id: string, timeoutMs = 600_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const state = await progress(client, id);
    const line = `overall progress: ${Math.min(state.running, state.desired)} out of ${state.desired} tasks`;
    if (line !== last) {
      // A terminal gets one line redrawn in place, as docker's progress does; a pipe gets each new count once.
      if (out.isTerminal) await out.write(`\x1b[2K\r${line}`);
      else await out.line(line);
      last = line;
    }
    if (!state.updating && state.running === state.desired && state.tasks.length === state.desired) {
      if (out.isTerminal) await out.line();
      const slots = state.tasks.filter((task) => task.Slot !== undefined).sort((a, b) => (a.Slot ?? 0) - (b.Slot ?? 0));
      for (const task of slots)
        await out.line(
          `${task.Slot}/${state.desired}: running   [==================================================>] `,
        );
      await out.line("verify: Service converged ");
      return;
    }
    if (Date.now() > until) {
      throw new CliError(
        `the service did not converge in ${Math.round(timeoutMs / 1000)} s${state.failed ? `: ${state.failed.Status.Err}` : ""}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

const SERVICE_FLAGS = [
  { name: "constraint", type: "list", help: "Placement constraints" },
  { name: "container-label", type: "list", help: "Container labels" },
  { name: "detach", short: "d", type: "bool", help: "Exit immediately instead of waiting for the service to converge" },
  { name: "env", short: "e", type: "list", help: "Set environment variables" },
  { name: "hostname", type: "string", help: "Container hostname" },
  { name: "label", short: "l", type: "list", help: "Service labels" },
  { name: "network", type: "list", help: "Network attachments" },
  { name: "publish", short: "p", type: "list", help: "Publish a port as a node port" },
  { name: "replicas", type: "string", help: "Number of tasks" },
  { name: "stop-grace-period", type: "string", help: "Time to wait before force killing a container (ns|us|ms|s|m|h)" },
  { name: "tty", short: "t", type: "bool", help: "Allocate a pseudo-TTY" },
  { name: "update-delay", type: "string", help: "Delay between updates (ns|us|ms|s|m|h) (default 0s)" },
  {
    name: "update-parallelism",
    type: "string",
    help: "Maximum number of tasks updated simultaneously (0 to update all at once) (default 1)",
  },
  { name: "user", short: "u", type: "string", help: "Username or UID (format: <name|uid>[:<group|gid>])" },
  { name: "workdir", short: "w", type: "string", help: "Working directory inside the container" },
] as const;

function wholeFlag(value: string, flag: string): number {
  if (!/^\d+$/.test(value)) throw new FlagError(`invalid argument "${value}" for "--${flag}" flag: not a whole number`);
  return Number(value);
}

export const serviceCreate = defineVerb(
  {
    name: "create",
    usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
    summary: "Create a new service",
    args: { min: 1 },
    interspersed: false,
    topLevel: false,
    flags: [
      ...SERVICE_FLAGS,
      { name: "entrypoint", type: "string", help: "Overwrite the default ENTRYPOINT of the image" },
      { name: "mode", type: "string", default: "replicated", help: 'Service mode ("replicated", "global")' },
      { name: "name", type: "string", help: "Service name" },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    const [image, ...args] = context.args;
    if (flags.mode !== "replicated" && flags.mode !== "global") {
      throw new FlagError(`invalid argument "${flags.mode}" for "--mode" flag: replicated or global`);
    }
    if (flags.mode === "global" && flags.replicas) {
      throw new CliError("replicas can only be used with replicated mode");
    }
    const container: Record<string, unknown> = {
      Image: image,
      ...(args.length ? { Args: args } : {}),
      ...(flags.entrypoint ? { Command: [flags.entrypoint] } : {}),
      ...(flags.env.length ? { Env: [...flags.env] } : {}),
      ...(flags["container-label"].length ? { Labels: pairs(flags["container-label"]) } : {}),
      ...(flags.hostname ? { Hostname: flags.hostname } : {}),
      ...(flags.workdir ? { Dir: flags.workdir } : {}),
      ...(flags.user ? { User: flags.user } : {}),
      ...(flags.tty ? { TTY: true } : {}),
      ...(flags["stop-grace-period"]
        ? { StopGracePeriod: goDurationNs(flags["stop-grace-period"], "stop-grace-period") }
        : {}),
    };
    const spec: Spec = {
      Name: flags.name ?? "",
      Labels: pairs(flags.label),
      TaskTemplate: {
        ContainerSpec: container,
        ...(flags.constraint.length ? { Placement: { Constraints: [...flags.constraint] } } : {}),
        ...(flags.network.length ? { Networks: flags.network.map((target) => ({ Target: target })) } : {}),
      },
      Mode:
        flags.mode === "global"
          ? { Global: {} }
          : { Replicated: { Replicas: flags.replicas ? wholeFlag(flags.replicas, "replicas") : 1 } },
      UpdateConfig: {
        Parallelism: flags["update-parallelism"] ? wholeFlag(flags["update-parallelism"], "update-parallelism") : 1,
        ...(flags["update-delay"] ? { Delay: goDurationNs(flags["update-delay"], "update-delay") } : {}),
      },
      EndpointSpec: { Mode: "vip", ...(flags.publish.length ? { Ports: flags.publish.map(parsePort) } : {}) },
    };
    if (!spec.Name) throw new CliError("a service needs a name here: docker service create --name NAME IMAGE");
    const client = await context.client();
    const created = await client.json<{ ID: string }>("POST", "/services/create", { body: spec });
    await context.out.line(created.ID);
    if (!flags.detach) await waitConverged(client, context.out, created.ID);
    return 0;
  },
);

/** Reads a service, changes its spec and sends it back at the version read; waits unless `detach`. */
async function updateSpec(
  client: DockerClient,
  out: Output,
  ref: string,
  change: (spec: Spec) => void,
  detach: boolean,
): Promise<void> {
  const service = await client.json<ServiceJson>("GET", `/services/${encodeURIComponent(ref)}`);
  const spec = structuredClone(service.Spec);
  change(spec);
  await client.call("POST", `/services/${service.ID}/update`, {
    query: { version: service.Version.Index },
    body: spec,
  });
  if (!detach) await waitConverged(client, out, service.ID);
}

export const serviceScale = defineVerb(
  {
    name: "scale",
    usage: "SERVICE=REPLICAS [SERVICE=REPLICAS...]",
    summary: "Scale one or multiple replicated services",
    args: { min: 1 },
    topLevel: false,
    flags: [
      {
        name: "detach",
        short: "d",
        type: "bool",
        help: "Exit immediately instead of waiting for the service to converge",
      },
    ] as const,
  },
  async (context) => {
    const client = await context.client();
    for (const arg of context.args) {
      const [name, count] = arg.split("=");
      if (!name || count === undefined || !/^\d+$/.test(count)) {
        throw new CliError(`invalid scale specifier '${arg}'.\nSee 'docker service scale --help'.`);
      }
      const replicas = Number(count);
      await updateSpec(
        client,
        context.out,
        name,
        (spec) => {
          if (!spec.Mode?.Replicated) throw new CliError(`scale can only be used with replicated mode`);
          spec.Mode = { Replicated: { Replicas: replicas } };
        },
        true,
      );
      await context.out.line(`${name} scaled to ${replicas}`);
      if (!context.flags.detach) {
        const service = await client.json<ServiceJson>("GET", `/services/${encodeURIComponent(name)}`);
        await waitConverged(client, context.out, service.ID);
      }
    }
    return 0;
  },
);

export const serviceUpdate = defineVerb(
  {
    name: "update",
    usage: "[OPTIONS] SERVICE",
    summary: "Update a service",
    args: { min: 1, max: 1 },
    topLevel: false,
    flags: [
      {
        name: "detach",
        short: "d",
        type: "bool",
        help: "Exit immediately instead of waiting for the service to converge",
      },
      { name: "env-add", type: "list", help: "Add or update an environment variable" },
      { name: "force", type: "bool", help: "Force update even if no changes require it" },
      { name: "image", type: "string", help: "Service image tag" },
      { name: "replicas", type: "string", help: "Number of tasks" },
      { name: "update-delay", type: "string", help: "Delay between updates (ns|us|ms|s|m|h)" },
      { name: "update-parallelism", type: "string", help: "Maximum number of tasks updated simultaneously" },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    const ref = context.args[0]!;
    const client = await context.client();
    await updateSpec(
      client,
      context.out,
      ref,
      (spec) => {
        const container = spec.TaskTemplate.ContainerSpec;
        if (flags.image) container.Image = flags.image;
        if (flags["env-add"].length) {
          const env = ((container.Env as string[] | undefined) ?? []).filter(
            (entry) => !flags["env-add"].some((added) => added.split("=")[0] === entry.split("=")[0]),
          );
          container.Env = [...env, ...flags["env-add"]];
        }
        if (flags.force) spec.TaskTemplate.ForceUpdate = Number(spec.TaskTemplate.ForceUpdate ?? 0) + 1;
        if (flags.replicas) {
          if (!spec.Mode?.Replicated) throw new CliError("replicas can only be used with replicated mode");
          spec.Mode = { Replicated: { Replicas: wholeFlag(flags.replicas, "replicas") } };
        }
        const update = { ...(spec.UpdateConfig ?? {}) };
        if (flags["update-parallelism"])
          update.Parallelism = wholeFlag(flags["update-parallelism"], "update-parallelism");
        if (flags["update-delay"]) update.Delay = goDurationNs(flags["update-delay"], "update-delay");
        spec.UpdateConfig = update;
      },
      true,
    );
    await context.out.line(ref);
    if (!flags.detach) {
      const service = await client.json<ServiceJson>("GET", `/services/${encodeURIComponent(ref)}`);
      await waitConverged(client, context.out, service.ID);
    }
    return 0;
  },
);

export const serviceLs = defineVerb(
  {
    name: "ls",
    usage: "[OPTIONS]",
    summary: "List services",
    args: { max: 0 },
    topLevel: false,
    flags: [...listFlags({ filter: "Filter output based on conditions provided", quiet: "Only display IDs" })] as const,
  },
  async (context) => {
    const { flags } = context;
    const client = await context.client();
    const services = await client.json<ServiceJson[]>("GET", "/services", {
      query: { status: true, filters: filtersJson(flags.filter) },
    });
    const rows = services
      .sort((a, b) => a.Spec.Name.localeCompare(b.Spec.Name))
      .map((service) =>
        goStruct("*formatter.serviceContext", {
          ID: service.ID.slice(0, 12),
          Name: service.Spec.Name,
          Mode: service.Spec.Mode?.Global ? "global" : "replicated",
          Replicas: `${service.ServiceStatus?.RunningTasks ?? 0}/${service.ServiceStatus?.DesiredTasks ?? 0}`,
          Image: String(service.Spec.TaskTemplate.ContainerSpec.Image ?? "").replace(/@sha256:[0-9a-f]+$/, ""),
          Ports: (service.Endpoint?.Ports ?? [])
            .map((port) => `*:${port.PublishedPort}->${port.TargetPort}/${port.Protocol}`)
            .join(", "),
        }),
      );
    await writeFormatted(
      context.out,
      {
        format: flags.quiet ? "{{.ID}}" : flags.format,
        defaultFormat: "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}",
        header: { ID: "ID", Name: "NAME", Mode: "MODE", Replicas: "REPLICAS", Image: "IMAGE", Ports: "PORTS" },
      },
      rows,
    );
    return 0;
  },
);

export const servicePs = defineVerb(
  {
    name: "ps",
    usage: "[OPTIONS] SERVICE [SERVICE...]",
    summary: "List the tasks of one or more services",
    args: { min: 1 },
    topLevel: false,
    flags: [
      ...listFlags({
        filter: "Filter output based on conditions provided",
        quiet: "Only display task IDs",
        format: "Pretty-print tasks using a Go template",
      }),
      { name: "no-trunc", type: "bool", help: "Do not truncate output" },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    const client = await context.client();
    const services = await Promise.all(
      context.args.map((ref) => client.json<ServiceJson>("GET", `/services/${encodeURIComponent(ref)}`)),
    );
    const filters = JSON.parse(filtersJson(flags.filter) ?? "{}") as Record<string, Record<string, boolean>>;
    filters.service = Object.fromEntries(services.map((service) => [service.ID, true]));
    const tasks = await client.json<TaskJson[]>("GET", "/tasks", { query: { filters: JSON.stringify(filters) } });
    const nodes = new Map(
      (await client.json<NodeJson[]>("GET", "/nodes")).map((node) => [node.ID, node.Description.Hostname]),
    );
    const names = new Map(services.map((service) => [service.ID, service.Spec.Name]));
    // Newest first within a slot; a slot's older tasks are shown under it as \_ rows, as docker shows them.
    const sorted = tasks.sort(
      (a, b) =>
        (names.get(a.ServiceID) ?? "").localeCompare(names.get(b.ServiceID) ?? "") ||
        (a.Slot ?? 0) - (b.Slot ?? 0) ||
        (a.NodeID ?? "").localeCompare(b.NodeID ?? "") ||
        Date.parse(b.CreatedAt) - Date.parse(a.CreatedAt),
    );
    let previous = "";
    const rows = sorted.map((task) => {
      const slotName = `${names.get(task.ServiceID)}.${task.Slot ?? task.NodeID ?? ""}`;
      const name = slotName === previous ? ` \\_ ${slotName}` : slotName;
      previous = slotName;
      const since = Date.now() - Date.parse(task.Status.Timestamp);
      return goStruct("*formatter.taskContext", {
        ID: flags["no-trunc"] ? task.ID : task.ID.slice(0, 12),
        Name: name,
        Image: String(task.Spec.ContainerSpec?.Image ?? "").replace(/@sha256:[0-9a-f]+$/, ""),
        Node: nodes.get(task.NodeID ?? "") ?? "",
        DesiredState: title(task.DesiredState),
        CurrentState: `${title(task.Status.State)} ${humanDuration(Math.max(0, since))} ago`,
        Error: task.Status.Err ? `"${flags["no-trunc"] ? task.Status.Err : task.Status.Err.slice(0, 27)}"` : "",
        Ports: "",
      });
    });
    await writeFormatted(
      context.out,
      {
        format: flags.quiet ? "{{.ID}}" : flags.format,
        defaultFormat:
          "table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}",
        header: {
          ID: "ID",
          Name: "NAME",
          Image: "IMAGE",
          Node: "NODE",
          DesiredState: "DESIRED STATE",
          CurrentState: "CURRENT STATE",
          Error: "ERROR",
          Ports: "PORTS",
        },
      },
      rows,
    );
    return 0;
  },
);

export const serviceInspect = defineVerb(
  {
    name: "inspect",
    usage: "[OPTIONS] SERVICE [SERVICE...]",
    summary: "Display detailed information on one or more services",
    args: { min: 1 },
    topLevel: false,
    flags: [
      { name: "format", short: "f", type: "string", help: "Format output using a custom template" },
      { name: "pretty", type: "bool", help: "Print the information in a human friendly format" },
    ] as const,
  },
  async (context) => {
    const client = await context.client();
    const found = await Promise.all(
      context.args.map((ref) => client.json<ServiceJson>("GET", `/services/${encodeURIComponent(ref)}`)),
    );
    if (context.flags.format) {
      const template = compileTemplate(context.flags.format);
      for (const service of found) await context.out.line(renderTemplate(template, service));
      return 0;
    }
    await context.out.line(JSON.stringify(found, null, 4));
    return 0;
  },
);

export const serviceRm = defineVerb(
  {
    name: "rm",
    usage: "SERVICE [SERVICE...]",
    summary: "Remove one or more services",
    args: { min: 1 },
    topLevel: false,
    flags: [] as const,
  },
  async (context) => {
    const client = await context.client();
    for (const ref of context.args) {
      await client.call("DELETE", `/services/${encodeURIComponent(ref)}`);
      await context.out.line(ref);
    }
    return 0;
  },
);

/** A line's task, as the details the daemon sends before it name it (`com.docker.swarm.task.id=…`). */
interface LogContext {
  nodeId: string;
  serviceId: string;
  taskId: string;
}

/** `k=v,k=v` (values URL-encoded, as the daemon sends details) as a record. */
function parseDetails(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(",")) {
    const at = pair.indexOf("=");
    if (at > 0) out[decodeURIComponent(pair.slice(0, at))] = decodeURIComponent(pair.slice(at + 1));
  }
  return out;
}

export const serviceLogs = defineVerb(
  {
    name: "logs",
    usage: "[OPTIONS] SERVICE|TASK",
    summary: "Fetch the logs of a service or task",
    args: { min: 1, max: 1 },
    topLevel: false,
    flags: [
      ...LOG_FLAGS,
      { name: "no-resolve", type: "bool", help: "Do not map IDs to Names in output" },
      { name: "no-task-ids", type: "bool", help: "Do not include task IDs in output" },
      { name: "no-trunc", type: "bool", help: "Do not truncate output" },
      { name: "raw", type: "bool", help: "Do not neatly format logs" },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    const ref = context.args[0]!;
    const client = await context.client();
    // A service by name or ID first, then a task by ID, as docker looks.
    let path: string;
    let tty: boolean;
    try {
      const service = await client.json<ServiceJson>("GET", `/services/${encodeURIComponent(ref)}`);
      path = `/services/${service.ID}/logs`;
      tty = service.Spec.TaskTemplate.ContainerSpec.TTY === true;
    } catch (error) {
      if (!(error instanceof DaemonError) || error.httpStatus !== 404) throw error;
      const task = await client
        .json<TaskJson & { Spec: { ContainerSpec?: { TTY?: boolean } } }>("GET", `/tasks/${encodeURIComponent(ref)}`)
        .catch((failure: unknown) => {
          if (failure instanceof DaemonError && failure.httpStatus === 404) {
            throw new CliError(`no such task or service: ${ref}`);
          }
          throw failure;
        });
      path = `/tasks/${task.ID}/logs`;
      tty = task.Spec.ContainerSpec?.TTY === true;
    }
    const response = await client.request("GET", path, {
      query: {
        stdout: true,
        stderr: true,
        follow: flags.follow || undefined,
        timestamps: flags.timestamps || undefined,
        // The details name each line's task: asked unless the output is raw.
        details: flags.details || !flags.raw || undefined,
        tail: flags.tail,
        since: flags.since || undefined,
      },
    });
    if (!response.body) return 0;
    const body = interruptible(context.io, response.body);
    if (flags.raw) {
      await copyOutput(context, body, { tty });
      return 0;
    }
    const services = new Map<string, string>();
    const nodes = new Map<string, string>();
    const tasks = new Map<string, string>();
    if (!flags["no-resolve"]) {
      for (const node of await client.json<NodeJson[]>("GET", "/nodes").catch(() => [] as NodeJson[])) {
        nodes.set(node.ID, node.Description.Hostname);
      }
    }
    const id = (full: string) => (flags["no-trunc"] ? full : full.slice(0, 12));
    const taskName = async (line: LogContext): Promise<string> => {
      const known = tasks.get(line.taskId);
      if (known !== undefined) return known;
      let serviceName = services.get(line.serviceId);
      if (serviceName === undefined) {
        serviceName = flags["no-resolve"]
          ? line.serviceId
          : await client
              .json<ServiceJson>("GET", `/services/${encodeURIComponent(line.serviceId)}`)
              .then((service) => service.Spec.Name)
              .catch(() => line.serviceId);
        services.set(line.serviceId, serviceName);
      }
      const task = await client
        .json<TaskJson>("GET", `/tasks/${encodeURIComponent(line.taskId)}`)
        .catch(() => undefined);
      // A replicated service's task is `name.slot`; a global one's `name.node`.
      const place = task?.Slot ? String(task.Slot) : line.nodeId;
      const name = `${serviceName}.${place}${flags["no-task-ids"] ? "" : `.${id(line.taskId)}`}`;
      tasks.set(line.taskId, name);
      return name;
    };
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    /** One line as docker prints it: [timestamp ]task@node    | text (the other details kept with --details). */
    const format = async (line: string): Promise<string> => {
      let rest = line;
      let stamp = "";
      if (flags.timestamps) {
        const space = rest.indexOf(" ");
        stamp = `${rest.slice(0, space + 1)}`;
        rest = rest.slice(space + 1);
      }
      const space = rest.indexOf(" ");
      const details = parseDetails(space >= 0 ? rest.slice(0, space) : "");
      const text = space >= 0 ? rest.slice(space + 1) : rest;
      const taskId = details["com.docker.swarm.task.id"];
      const nodeId = details["com.docker.swarm.node.id"] ?? "";
      const serviceId = details["com.docker.swarm.service.id"] ?? "";
      if (!taskId) return line;
      const name = await taskName({ nodeId, serviceId, taskId });
      const node = flags["no-resolve"] ? nodeId : (nodes.get(nodeId) ?? nodeId);
      const extra = Object.entries(details)
        .filter(([key]) => !key.startsWith("com.docker.swarm."))
        .map(([key, value]) => `${key}=${value}`)
        .join(",");
      return `${stamp}${name}@${node}    | ${flags.details && extra ? `${extra} ` : ""}${text}`;
    };
    const sink = (write: (bytes: Uint8Array) => Promise<void>) => {
      let pending = "";
      return {
        async push(bytes: Uint8Array) {
          pending += decoder.decode(bytes, { stream: true });
          for (let at = pending.indexOf("\n"); at >= 0; at = pending.indexOf("\n")) {
            const line = pending.slice(0, at);
            pending = pending.slice(at + 1);
            await write(encoder.encode(`${await format(line)}\n`));
          }
        },
        async end() {
          if (pending) await write(encoder.encode(await format(pending)));
          pending = "";
        },
      };
    };
    const out = sink((bytes) => context.out.write(bytes));
    const err = sink((bytes) => context.err.write(bytes));
    try {
      if (tty) {
        const reader = body.getReader();
        let finished = false;
        try {
          for (let next = await reader.read(); !next.done; next = await reader.read()) await out.push(next.value);
          finished = true;
        } finally {
          await settle(reader, finished);
        }
      } else {
        await demultiplex(body, { stdout: (bytes) => out.push(bytes), stderr: (bytes) => err.push(bytes) });
      }
    } finally {
      await out.end();
      await err.end();
    }
    return 0;
  },
);
