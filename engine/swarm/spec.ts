// A service's spec as the Engine API sends it (ServiceSpec: Name, TaskTemplate.ContainerSpec, Mode, UpdateConfig,
// EndpointSpec, Networks), read field by field into what the manager acts on, with Docker's defaults filled in.
import { EngineError } from "../errors.ts";
import { type Constraint, parseConstraints } from "./scheduler.ts";

/** A published port of a service (EndpointSpec.Ports). */
export interface ServicePort {
  protocol: "tcp" | "udp";
  targetPort: number;
  publishedPort: number;
  publishMode: "ingress" | "host";
}

/** What the manager needs of a ServiceSpec. */
export interface ServicePlan {
  name: string;
  image: string;
  /** ContainerSpec.Command: the entrypoint. */
  command?: string[];
  /** ContainerSpec.Args: the command. */
  args?: string[];
  env: string[];
  /** Labels of the service's containers (ContainerSpec.Labels). */
  containerLabels: Record<string, string>;
  hostname?: string;
  workdir?: string;
  user?: string;
  tty: boolean;
  /** undefined: one task per eligible node (global mode). */
  replicas: number | undefined;
  constraints: Constraint[];
  /** Network names or ids (NetworkAttachmentConfig.Target), with aliases. */
  networks: { target: string; aliases: string[] }[];
  ports: ServicePort[];
  /** UpdateConfig: tasks replaced at once (0: all), and the wait between batches. */
  parallelism: number;
  delayMs: number;
  /** StopGracePeriod, in seconds. */
  stopGraceSeconds: number;
}

/** A service name as swarmkit takes one. */
const NAME = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

const record = (value: unknown): Record<string, unknown> =>
  value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

function strings(value: unknown, what: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
    throw new EngineError("invalidArgument", `${what} must be a list of strings`);
  }
  return value as string[];
}

function stringMap(value: unknown, what: string): Record<string, string> {
  const map = record(value);
  for (const [key, item] of Object.entries(map)) {
    if (typeof item !== "string") throw new EngineError("invalidArgument", `${what}.${key} must be a string`);
  }
  return map as Record<string, string>;
}

function wholeNumber(value: unknown, what: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new EngineError("invalidArgument", `${what} must be a whole number, 0 or more, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** 10 seconds, swarmkit's default StopGracePeriod. */
const DEFAULT_STOP_GRACE_NS = 10_000_000_000;

/**
 * Reads a ServiceSpec (as `docker service create` sends it): errors name the field and what to do.
 * @example
 * readServiceSpec({ Name: "web", TaskTemplate: { ContainerSpec: { Image: "busybox" } } }).replicas; // 1
 */
export function readServiceSpec(spec: Record<string, unknown>): ServicePlan {
  const name = spec.Name;
  if (typeof name !== "string" || name === "") {
    throw new EngineError("invalidArgument", "a service needs a name: docker service create --name NAME IMAGE");
  }
  if (!NAME.test(name)) {
    throw new EngineError(
      "invalidArgument",
      `invalid name ${JSON.stringify(name)}: a service name is letters, digits and dashes, at most 63, starting and ending with a letter or digit`,
    );
  }
  const template = record(spec.TaskTemplate);
  const container = record(template.ContainerSpec);
  const image = container.Image;
  if (typeof image !== "string" || image === "") {
    throw new EngineError("invalidArgument", "ContainerSpec: image reference must be provided");
  }
  const mode = record(spec.Mode);
  let replicas: number | undefined = 1;
  if (mode.Global !== undefined) replicas = undefined;
  else if (mode.ReplicatedJob !== undefined || mode.GlobalJob !== undefined) {
    throw new EngineError("invalidArgument", "Drydock's swarm runs replicated and global services, not jobs");
  } else replicas = wholeNumber(record(mode.Replicated).Replicas, "Mode.Replicated.Replicas", 1);
  const placement = record(template.Placement);
  const constraints = parseConstraints(strings(placement.Constraints, "Placement.Constraints") ?? []);
  const networks = [...((template.Networks ?? spec.Networks ?? []) as unknown[])].map((entry) => {
    const attachment = record(entry);
    if (typeof attachment.Target !== "string" || !attachment.Target) {
      throw new EngineError("invalidArgument", "each network attachment needs a Target (a network's name or id)");
    }
    return { target: attachment.Target, aliases: strings(attachment.Aliases, "Networks.Aliases") ?? [] };
  });
  const endpoint = record(spec.EndpointSpec);
  const ports = [...((endpoint.Ports ?? []) as unknown[])].map((entry): ServicePort => {
    const port = record(entry);
    const protocol = (port.Protocol ?? "tcp") as string;
    if (protocol !== "tcp" && protocol !== "udp") {
      throw new EngineError("invalidArgument", `published port protocol must be tcp or udp, got ${protocol}`);
    }
    const targetPort = wholeNumber(port.TargetPort, "EndpointSpec.Ports.TargetPort", 0);
    const publishedPort = wholeNumber(port.PublishedPort, "EndpointSpec.Ports.PublishedPort", 0);
    if (targetPort < 1 || targetPort > 65535) {
      throw new EngineError(
        "invalidArgument",
        `a published port needs a target port from 1 to 65535, got ${targetPort}`,
      );
    }
    if (publishedPort < 1 || publishedPort > 65535) {
      throw new EngineError(
        "invalidArgument",
        `publish a port with its number (-p 8080:${targetPort}): Drydock's routing mesh does not pick one, got ${publishedPort}`,
      );
    }
    const publishMode = (port.PublishMode ?? "ingress") as string;
    if (publishMode !== "ingress") {
      throw new EngineError(
        "invalidArgument",
        `Drydock publishes service ports through the routing mesh (mode=ingress), not mode=${publishMode}`,
      );
    }
    return { protocol, targetPort, publishedPort, publishMode };
  });
  const update = record(spec.UpdateConfig);
  const grace = container.StopGracePeriod;
  return {
    name,
    image,
    ...(strings(container.Command, "ContainerSpec.Command")?.length ? { command: container.Command as string[] } : {}),
    ...(strings(container.Args, "ContainerSpec.Args")?.length ? { args: container.Args as string[] } : {}),
    env: strings(container.Env, "ContainerSpec.Env") ?? [],
    containerLabels: stringMap(container.Labels, "ContainerSpec.Labels"),
    ...(typeof container.Hostname === "string" && container.Hostname ? { hostname: container.Hostname } : {}),
    ...(typeof container.Dir === "string" && container.Dir ? { workdir: container.Dir } : {}),
    ...(typeof container.User === "string" && container.User ? { user: container.User } : {}),
    tty: container.TTY === true,
    replicas,
    constraints,
    networks,
    ports,
    parallelism: wholeNumber(update.Parallelism, "UpdateConfig.Parallelism", 1),
    delayMs: Math.round(wholeNumber(update.Delay, "UpdateConfig.Delay", 0) / 1e6),
    stopGraceSeconds: Math.ceil(wholeNumber(grace, "ContainerSpec.StopGracePeriod", DEFAULT_STOP_GRACE_NS) / 1e9),
  };
}

/**
 * Go templates swarm expands in a task's hostname and env: {{.Service.Name}}, {{.Service.ID}}, {{.Node.Hostname}},
 * {{.Node.ID}}, {{.Task.Name}}, {{.Task.ID}}, {{.Task.Slot}}.
 * @example
 * expandTemplate("{{.Node.Hostname}}-web", { "Node.Hostname": "node2" }); // "node2-web"
 */
export function expandTemplate(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{\s*\.([A-Za-z]+\.[A-Za-z]+)\s*\}\}/g, (whole, key: string) => values[key] ?? whole);
}
