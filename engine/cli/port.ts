// `docker port`: a running container's published ports, from its inspect (`80/tcp -> 0.0.0.0:8080`), or the host
// side of one port.
import { defineVerb } from "./command.ts";
import { CliError } from "./errors.ts";

export const port = defineVerb(
  {
    name: "port",
    usage: "CONTAINER [PRIVATE_PORT[/PROTO]]",
    summary: "List port mappings or a specific mapping for the container",
    args: { min: 1, max: 2 },
    flags: [] as const,
  },
  async (context) => {
    const [container, wanted] = context.args as [string, string | undefined];
    const client = await context.client();
    const details = await client.json<{
      NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null> | null };
    }>("GET", `/containers/${encodeURIComponent(container)}/json`, {
      notFound: { object: "container", id: container },
    });
    const ports = details.NetworkSettings.Ports ?? {};
    const hostSide = (binding: { HostIp: string; HostPort: string }) =>
      `${binding.HostIp || "0.0.0.0"}:${binding.HostPort}`;
    if (wanted) {
      const match = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(wanted);
      if (!match) throw new CliError(`Error: invalid port (${wanted})`);
      const key = `${match[1]}/${match[2] ?? "tcp"}`;
      const bindings = ports[key];
      if (!bindings?.length) throw new CliError(`Error: No public port '${key}' published for ${container}`);
      for (const binding of bindings) await context.out.line(hostSide(binding));
      return 0;
    }
    const keys = Object.keys(ports).sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10));
    for (const key of keys)
      for (const binding of ports[key] ?? []) await context.out.line(`${key} -> ${hostSide(binding)}`);
    return 0;
  },
);
