// Network routes: list (with dockerd's filters), inspect, create, remove, prune, connect and disconnect
// (`/networks`), in dockerd's shapes and words; and the network fields of a container's inspect and list entries.
import type { Hono } from "hono";
import type { ContainerNetworkInfo } from "../container-service.ts";
import { EngineError } from "../errors.ts";
import type { Endpoint, EndpointConfig, Network, PortBindings, PublishedPort } from "../network/index.ts";
import type { SwarmNetwork } from "../swarm/index.ts";
import { type ApiOptions, goTime, json, jsonBody, requireContainers } from "./common.ts";
import { acceptFilters, invalidFilterValue, labelsMatch, parseFilters } from "./filters.ts";

/** A network as `GET /networks/{id}` answers it; `containers` are its running containers' endpoints. */
export function networkJson(network: Network, endpoints?: readonly Endpoint[]) {
  return {
    Name: network.name,
    Id: network.id,
    Created: goTime(network.created),
    // A node's segment of a swarm's overlay network is shown as the overlay network it is.
    Scope: network.overlay ? "swarm" : "local",
    Driver: network.overlay ? "overlay" : network.driver,
    EnableIPv6: false,
    IPAM: {
      Driver: "default",
      Options: network.predefined ? null : {},
      Config: network.ipam.map((config) => ({
        Subnet: config.subnet,
        ...(config.ipRange ? { IPRange: config.ipRange } : {}),
        Gateway: config.gateway,
      })),
    },
    Internal: network.internal,
    Attachable: network.attachable,
    Ingress: false,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: containersJson(endpoints ?? []),
    Options: network.options,
    Labels: network.labels,
  };
}

/** A network's `Containers`: its running containers' endpoints, by container id. */
function containersJson(endpoints: readonly Endpoint[]) {
  return Object.fromEntries(
    endpoints.map((endpoint) => [
      endpoint.containerId,
      {
        Name: endpoint.containerName,
        EndpointID: endpoint.id,
        MacAddress: endpoint.mac,
        IPv4Address: `${endpoint.ip}/${endpoint.prefix}`,
        IPv6Address: "",
      },
    ]),
  );
}

/**
 * A swarm network (`docker network create -d overlay` on a manager), as a manager lists and inspects it: its subnet
 * and VNI are the swarm's; `local`, the node's own segment of it, gives the containers on it here.
 */
export function swarmNetworkJson(network: SwarmNetwork, local?: { endpoints: readonly Endpoint[] }) {
  return {
    Name: network.name,
    Id: network.id,
    Created: goTime(network.createdAt),
    Scope: "swarm",
    Driver: "overlay",
    EnableIPv6: false,
    IPAM: { Driver: "default", Options: null, Config: [{ Subnet: network.subnet, Gateway: network.gateway }] },
    Internal: false,
    Attachable: network.attachable,
    Ingress: false,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: containersJson(local?.endpoints ?? []),
    Options: { "com.docker.network.driver.overlay.vxlanid_list": String(network.vni) },
    Labels: network.labels,
  };
}

/** One network of a container, as inspect's `NetworkSettings.Networks` entry (EndpointSettings). */
export function endpointSettingsJson(
  network: Network,
  config: EndpointConfig,
  endpoint: Endpoint | undefined,
  container: { id: string; name: string },
) {
  const userDefined = network.driver === "bridge" && network.name !== "bridge";
  const shortId = container.id.slice(0, 12);
  return {
    IPAMConfig: config.ipv4Address ? { IPv4Address: config.ipv4Address } : null,
    Links: null,
    // API 1.43 lists the short id among a running container's aliases on a user-defined network.
    Aliases:
      config.aliases.length || (endpoint && userDefined)
        ? [...config.aliases, ...(endpoint && userDefined ? [shortId] : [])]
        : null,
    MacAddress: endpoint?.mac ?? "",
    NetworkID: network.id,
    EndpointID: endpoint?.id ?? "",
    Gateway: endpoint?.gateway ?? "",
    IPAddress: endpoint?.ip ?? "",
    IPPrefixLen: endpoint?.prefix ?? 0,
    IPv6Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    DriverOpts: null,
    DNSNames: endpoint && userDefined ? [container.name, shortId, ...config.aliases] : null,
  };
}

/** The networks of a container by name, as inspect and the list show them (`none`/`host` as such). */
export function containerNetworksJson(info: ContainerNetworkInfo, container: { id: string; name: string }) {
  const networks: Record<string, ReturnType<typeof endpointSettingsJson>> = {};
  for (const { network, config, endpoint } of info.networks) {
    networks[network.name] = endpointSettingsJson(network, config, endpoint, container);
  }
  if (info.mode === "none" || info.mode === "host") {
    networks[info.mode] = {
      ...endpointSettingsJson(
        { id: "", name: info.mode, driver: "null" } as Network,
        { aliases: [] },
        undefined,
        container,
      ),
      NetworkID: "",
    };
  }
  return networks;
}

/** `NetworkSettings.Ports` of a running container: each exposed port with its host bindings, or null. */
export function portMapJson(exposed: readonly string[], published: readonly PublishedPort[]) {
  const ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const key of exposed) ports[key] = null;
  for (const port of published) {
    const key = `${port.containerPort}/${port.proto}`;
    ports[key] = [...(ports[key] ?? []), { HostIp: port.hostIp, HostPort: String(port.hostPort) }];
  }
  return ports;
}

/** HostConfig.PortBindings as the client sent them. */
export function portBindingsJson(bindings: PortBindings) {
  return Object.fromEntries(
    Object.entries(bindings).map(([key, list]) => [
      key,
      list.map((binding) => ({ HostIp: binding.hostIp, HostPort: binding.hostPort })),
    ]),
  );
}

/** A list entry's Ports: published ones with their host side, exposed ones without. */
export function portListJson(exposed: readonly string[], published: readonly PublishedPort[]) {
  const entries: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] = published.map((port) => ({
    IP: port.hostIp,
    PrivatePort: port.containerPort,
    PublicPort: port.hostPort,
    Type: port.proto,
  }));
  for (const key of exposed) {
    const [number, type = "tcp"] = key.split("/");
    if (!published.some((port) => `${port.containerPort}/${port.proto}` === key)) {
      entries.push({ PrivatePort: Number(number), Type: type });
    }
  }
  return entries;
}

const NETWORK_FILTERS = ["dangling", "driver", "id", "label", "name", "scope", "type"] as const;

function networkMatches(network: Network, filters: Record<string, string[]>, inUse: boolean): boolean {
  const any = (key: string, test: (value: string) => boolean) => !filters[key] || filters[key].some(test);
  for (const value of filters.type ?? []) {
    if (value !== "custom" && value !== "builtin") throw invalidFilterValue("type", [value]);
  }
  for (const value of filters.dangling ?? []) {
    if (!["true", "false", "1", "0"].includes(value)) throw invalidFilterValue("dangling", [value]);
  }
  return (
    any("name", (name) => network.name.includes(name)) &&
    any("id", (id) => network.id.startsWith(id)) &&
    any("driver", (driver) => network.driver === driver) &&
    any("scope", (scope) => scope === "local") &&
    any("type", (type) => (type === "builtin") === network.predefined) &&
    any("dangling", (value) => ["true", "1"].includes(value) === (!inUse && !network.predefined)) &&
    labelsMatch(network.labels, filters.label)
  );
}

const stringMap = (value: unknown, field: string): Record<string, string> => {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value))
    throw new EngineError("invalidArgument", `${field} must be an object`);
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, String(item)]));
};

/** The EndpointConfig of a connect body (or a create body's EndpointsConfig entry): aliases and `--ip`. */
export function endpointConfigOf(value: unknown): { aliases: string[]; ipv4Address?: string } {
  const body = (value ?? {}) as Record<string, unknown>;
  const aliases = Array.isArray(body.Aliases) ? body.Aliases.filter((a): a is string => typeof a === "string") : [];
  const ipam = (body.IPAMConfig ?? {}) as Record<string, unknown>;
  const ip = typeof ipam.IPv4Address === "string" && ipam.IPv4Address ? ipam.IPv4Address : undefined;
  return { aliases, ...(ip ? { ipv4Address: ip } : {}) };
}

export function registerNetworkRoutes(app: Hono, options: ApiOptions): void {
  const networking = () => requireContainers(options).networking;
  /** The swarm's manager, when this node is one (swarm networks are a manager's to list and change). */
  const swarm = () => {
    const api = options.swarm;
    const node = api?.manager.nodeOf(api.member);
    return api && node?.role === "manager" ? api.manager : undefined;
  };

  app.get("/networks", (c) => {
    const filters = parseFilters(c.req.query("filters"));
    acceptFilters(filters, NETWORK_FILTERS);
    const net = networking();
    const clustered = swarm()?.networks() ?? [];
    const listed = net.store
      .list()
      // A swarm network's bridge on this node is shown as the swarm network it is.
      .filter(
        (network) =>
          !clustered.some((known) => known.name === network.name && network.labels["com.docker.swarm.network.name"]),
      )
      .filter((network) => networkMatches(network, filters, net.containersOn(network.id).length > 0))
      .map((network) => networkJson(network));
    const names = new Set(listed.map((network) => network.Name));
    for (const network of clustered) {
      if (names.has(network.name) || !labelsMatch(network.labels, filters.label)) continue;
      if (filters.name && !filters.name.some((name) => network.name.includes(name))) continue;
      if (filters.driver && !filters.driver.includes("overlay")) continue;
      if (filters.scope && !filters.scope.includes("swarm")) continue;
      listed.push(swarmNetworkJson(network) as unknown as (typeof listed)[number]);
    }
    return json(listed);
  });

  app.post("/networks/create", async (c) => {
    const body = await jsonBody(c);
    if (typeof body.Name !== "string" || !body.Name) {
      throw new EngineError("invalidArgument", "network name is required");
    }
    if (body.Driver === "overlay") {
      if (!options.swarm) {
        throw new EngineError(
          "unavailable",
          "overlay networks are a swarm's: start the daemon as a cluster (drydock daemon --nodes 3) and docker swarm init",
        );
      }
      const manager = options.swarm.manager;
      manager.requireManager(options.swarm.member);
      const ipam = (body.IPAM ?? {}) as Record<string, unknown>;
      if (Array.isArray(ipam.Config) && ipam.Config.length > 0) {
        throw new EngineError(
          "invalidArgument",
          "Drydock's swarm gives each overlay network its own /24 of 10.0.0.0/16: leave out --subnet, --gateway and --ip-range",
        );
      }
      const network = manager.createNetwork({
        name: body.Name,
        attachable: body.Attachable === true,
        labels: stringMap(body.Labels, "Labels"),
      });
      return json({ Id: network.id, Warning: "" }, 201);
    }
    const ipam = (body.IPAM ?? {}) as Record<string, unknown>;
    if (typeof ipam.Driver === "string" && ipam.Driver && ipam.Driver !== "default") {
      throw new EngineError("invalidArgument", `Drydock has the default IPAM driver only (not "${ipam.Driver}")`);
    }
    const configs = Array.isArray(ipam.Config) ? ipam.Config : [];
    const text = (value: unknown) => (typeof value === "string" && value ? value : undefined);
    const network = await networking().create({
      name: body.Name,
      ...(typeof body.Driver === "string" ? { driver: body.Driver } : {}),
      internal: body.Internal === true,
      attachable: body.Attachable === true,
      enableIPv6: body.EnableIPv6 === true,
      labels: stringMap(body.Labels, "Labels"),
      options: stringMap(body.Options, "Options"),
      ipam: configs.map((entry: unknown) => {
        const config = (entry ?? {}) as Record<string, unknown>;
        const subnet = text(config.Subnet);
        const gateway = text(config.Gateway);
        const ipRange = text(config.IPRange);
        return { ...(subnet ? { subnet } : {}), ...(gateway ? { gateway } : {}), ...(ipRange ? { ipRange } : {}) };
      }),
    });
    return json({ Id: network.id, Warning: "" }, 201);
  });

  app.post("/networks/prune", async (c) => {
    const filters = parseFilters(c.req.query("filters"));
    acceptFilters(filters, ["label", "label!", "until"]);
    const removed = await networking().prune((network) => {
      if (!labelsMatch(network.labels, filters.label)) return true;
      const not = filters["label!"];
      return Boolean(not?.length && labelsMatch(network.labels, not));
    });
    return json({ NetworksDeleted: removed });
  });

  app.get("/networks/:id", (c) => {
    const ref = c.req.param("id");
    // The CLI asks with scope=swarm for a service's --network: the swarm's network first.
    const clustered = swarm()?.findNetwork(ref);
    const net = networking();
    if (clustered) {
      // A manager shows the swarm's network, with the containers of this node's segment of it.
      const segment = net.store.list().find((network) => network.overlay && network.id === clustered.id);
      if (segment || c.req.query("scope") === "swarm" || !net.store.find(ref)) {
        return json(
          swarmNetworkJson(clustered, segment ? { endpoints: net.store.endpointsOf(segment.id) } : undefined),
        );
      }
    }
    const network = net.store.find(ref);
    const found = network ?? net.store.get(ref);
    return json(networkJson(found, net.store.endpointsOf(found.id)));
  });

  app.delete("/networks/:id", async (c) => {
    const ref = c.req.param("id");
    const clustered = swarm()?.findNetwork(ref);
    if (clustered) await swarm()!.removeNetwork(ref);
    else await networking().remove(ref);
    return new Response(null, { status: 204 });
  });

  app.post("/networks/:id/connect", async (c) => {
    const body = await jsonBody(c);
    if (typeof body.Container !== "string" || !body.Container) {
      throw new EngineError("invalidArgument", "no container was given to connect");
    }
    await requireContainers(options).connect(c.req.param("id"), body.Container, endpointConfigOf(body.EndpointConfig));
    return new Response(null, { status: 200 });
  });

  app.post("/networks/:id/disconnect", async (c) => {
    const body = await jsonBody(c);
    if (typeof body.Container !== "string" || !body.Container) {
      throw new EngineError("invalidArgument", "no container was given to disconnect");
    }
    await requireContainers(options).disconnect(c.req.param("id"), body.Container);
    return new Response(null, { status: 200 });
  });
}
