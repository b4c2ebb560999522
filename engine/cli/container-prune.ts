// `docker container prune`: removes every stopped container (after docker's prompt, unless -f).
import { defineVerb } from "./command.ts";
import { confirm, reportDeleted, reportReclaimed } from "./prune.ts";
import { filtersJson } from "./ps.ts";

export interface ContainersPruned {
  ContainersDeleted: string[] | null;
  SpaceReclaimed: number;
}

export const containerPrune = defineVerb(
  {
    name: "prune",
    usage: "[OPTIONS]",
    summary: "Remove all stopped containers",
    args: { max: 0 },
    topLevel: false,
    flags: [
      { name: "filter", type: "list", valueName: "filter", help: 'Provide filter values (e.g. "label=<key>=<value>")' },
      { name: "force", short: "f", type: "bool", help: "Do not prompt for confirmation" },
    ] as const,
  },
  async (context) => {
    if (!context.flags.force && !(await confirm(context, "WARNING! This will remove all stopped containers."))) {
      return 0;
    }
    const client = await context.client();
    const report = await client.json<ContainersPruned>("POST", "/containers/prune", {
      query: { filters: filtersJson(context.flags.filter) },
    });
    await reportDeleted(context, "Deleted Containers", report.ContainersDeleted);
    await reportReclaimed(context, report.SpaceReclaimed);
    return 0;
  },
);
