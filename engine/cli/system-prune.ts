// `docker system prune`: stopped containers, dangling images (every unused one with -a) and unused build cache,
// after docker's question unless -f. Drydock has no networks or volumes, so the warning names only what it removes.
import { defineVerb } from "./command.ts";
import type { ContainersPruned } from "./container-prune.ts";
import { confirm, reportDeleted, reportReclaimed } from "./prune.ts";
import { filtersJson } from "./ps.ts";

interface ImagesPruned {
  ImagesDeleted: ({ Untagged?: string; Deleted?: string } | null)[] | null;
  SpaceReclaimed: number;
}

interface CachePruned {
  CachesDeleted: string[] | null;
  SpaceReclaimed: number;
}

export const systemPrune = defineVerb(
  {
    name: "prune",
    usage: "[OPTIONS]",
    summary: "Remove unused data",
    args: { max: 0 },
    topLevel: false,
    flags: [
      { name: "all", short: "a", type: "bool", help: "Remove all unused images not just dangling ones" },
      { name: "filter", type: "list", valueName: "filter", help: 'Provide filter values (e.g. "label=<key>=<value>")' },
      { name: "force", short: "f", type: "bool", help: "Do not prompt for confirmation" },
    ] as const,
  },
  async (context) => {
    const { all, filter, force } = context.flags;
    const images = all ? "all images without at least one container associated to them" : "all dangling images";
    const warning = `WARNING! This will remove:\n  - all stopped containers\n  - ${images}\n  - unused build cache\n`;
    if (!force && !(await confirm(context, warning))) return 0;
    const client = await context.client();
    const containers = await client.json<ContainersPruned>("POST", "/containers/prune", {
      query: { filters: filtersJson(filter) },
    });
    await reportDeleted(context, "Deleted Containers", containers.ContainersDeleted);
    const pruned = await client.json<ImagesPruned>("POST", "/images/prune", {
      query: { filters: JSON.stringify(all ? { dangling: { false: true } } : {}) },
    });
    const lines = (pruned.ImagesDeleted ?? []).flatMap((entry) =>
      entry?.Untagged ? [`untagged: ${entry.Untagged}`] : entry?.Deleted ? [`deleted: ${entry.Deleted}`] : [],
    );
    await reportDeleted(context, "Deleted Images", lines);
    const cache = await client.json<CachePruned>("POST", "/build/prune", { query: all ? { all: true } : {} });
    await reportDeleted(context, "Deleted build cache objects", cache.CachesDeleted);
    await reportReclaimed(context, containers.SpaceReclaimed + pruned.SpaceReclaimed + cache.SpaceReclaimed);
    return 0;
  },
);
