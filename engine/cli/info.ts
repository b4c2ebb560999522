// `docker info`: the client's context and the daemon's system-wide information, laid out as docker prints it.

import { bytesSize } from "../conventions/index.ts";
import { defineVerb } from "./command.ts";
import { compileTemplate, renderTemplate } from "./format.ts";

type Info = Record<string, unknown> & {
  Plugins?: { Volume?: string[]; Network?: string[]; Authorization?: string[] | null; Log?: string[] };
  Swarm?: { LocalNodeState?: string };
  Runtimes?: Record<string, unknown>;
  DriverStatus?: [string, string][] | null;
  SystemStatus?: [string, string][] | null;
  ContainerdCommit?: { ID: string; Expected: string };
  RuncCommit?: { ID: string; Expected: string };
  InitCommit?: { ID: string; Expected: string };
  SecurityOptions?: string[];
  Labels?: string[];
  Warnings?: string[] | null;
};

function serverLines(info: Info): string[] {
  const lines: string[] = [];
  const add = (label: string, value: unknown) => lines.push(`${label} ${value === undefined ? "" : String(value)}`);
  const nonEmpty = (label: string, value: unknown) => {
    if (value !== undefined && value !== "") add(label, value);
  };
  add(" Containers:", info.Containers);
  add("  Running:", info.ContainersRunning);
  add("  Paused:", info.ContainersPaused);
  add("  Stopped:", info.ContainersStopped);
  add(" Images:", info.Images);
  nonEmpty(" Server Version:", info.ServerVersion);
  nonEmpty(" Storage Driver:", info.Driver);
  for (const [key, value] of info.DriverStatus ?? []) lines.push(`  ${key}: ${value}`);
  for (const [key, value] of info.SystemStatus ?? []) lines.push(` ${key}: ${value}`);
  nonEmpty(" Logging Driver:", info.LoggingDriver);
  nonEmpty(" Cgroup Driver:", info.CgroupDriver);
  nonEmpty(" Cgroup Version:", info.CgroupVersion);
  lines.push(" Plugins:");
  add("  Volume:", (info.Plugins?.Volume ?? []).join(" "));
  add("  Network:", (info.Plugins?.Network ?? []).join(" "));
  if ((info.Plugins?.Authorization ?? []).length > 0) add("  Authorization:", info.Plugins!.Authorization!.join(" "));
  add("  Log:", (info.Plugins?.Log ?? []).join(" "));
  add(" Swarm:", info.Swarm?.LocalNodeState ?? "");
  const runtimes = Object.keys(info.Runtimes ?? {});
  if (runtimes.length > 0) {
    lines.push(` Runtimes:${runtimes.map((name) => ` ${name}`).join("")}`);
    add(" Default Runtime:", info.DefaultRuntime);
  }
  if (info.OSType === "linux") {
    add(" Init Binary:", info.InitBinary);
    for (const [name, commit] of [
      ["containerd", info.ContainerdCommit],
      ["runc", info.RuncCommit],
      ["init", info.InitCommit],
    ] as const) {
      lines.push(
        ` ${name} version: ${commit?.ID ?? ""}${commit && commit.ID !== commit.Expected ? ` (expected: ${commit.Expected})` : ""}`,
      );
    }
    if ((info.SecurityOptions ?? []).length > 0) {
      lines.push(" Security Options:");
      for (const option of info.SecurityOptions!) {
        const fields = Object.fromEntries(option.split(",").map((pair) => pair.split("=") as [string, string]));
        lines.push(`  ${fields.name ?? option}`);
        if (fields.profile) lines.push(`   Profile: ${fields.profile}`);
      }
    }
  }
  nonEmpty(" Kernel Version:", info.KernelVersion);
  nonEmpty(" Operating System:", info.OperatingSystem);
  nonEmpty(" OSType:", info.OSType);
  nonEmpty(" Architecture:", info.Architecture);
  add(" CPUs:", info.NCPU);
  add(" Total Memory:", bytesSize(Number(info.MemTotal ?? 0)));
  nonEmpty(" Name:", info.Name);
  nonEmpty(" ID:", info.ID);
  add(" Docker Root Dir:", info.DockerRootDir);
  add(" Debug Mode:", info.Debug);
  if ((info.Labels ?? []).length > 0) {
    lines.push(" Labels:");
    for (const label of info.Labels!) lines.push(`  ${label}`);
  }
  add(" Experimental:", info.ExperimentalBuild);
  lines.push(" Insecure Registries:");
  add(" Live Restore Enabled:", info.LiveRestoreEnabled);
  return lines;
}

export const info = defineVerb(
  {
    name: "info",
    usage: "[OPTIONS]",
    summary: "Display system-wide information",
    args: { max: 0 },
    flags: [
      { name: "format", short: "f", type: "string", help: "Format the output using the given Go template" },
    ] as const,
  },
  async (context) => {
    const client = await context.client();
    const details = await client.json<Info>("GET", "/info");
    if (context.flags.format) {
      await context.out.line(renderTemplate(compileTemplate(context.flags.format), details));
      return 0;
    }
    const lines = ["Client:", " Context:    default", " Debug Mode: false", "", "Server:", ...serverLines(details)];
    await context.out.write(`${lines.join("\n")}\n\n`);
    for (const warning of details.Warnings ?? []) await context.err.line(warning);
    return 0;
  },
);
