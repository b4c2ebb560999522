// `docker network prune`: removes the user-defined networks no container runs on, after asking.
import { defineVerb } from "./command.ts";
import { filtersJson } from "./ps.ts";
import { confirmed } from "./volume-prune.ts";

export const networkPrune = defineVerb(
  {
    name: "prune",
    usage: "[OPTIONS]",
    summary: "Remove all unused networks",
    args: { max: 0 },
    topLevel: false,
    flags: [
      { name: "filter", type: "list", valueName: "filter", help: 'Provide filter values (e.g. "until=<timestamp>")' },
      { name: "force", short: "f", type: "bool", help: "Do not prompt for confirmation" },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    if (!flags.force) {
      await context.out.write(
        "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ",
      );
      if (!(await confirmed(context.io.stdin))) return 0;
    }
    const client = await context.client();
    const report = await client.json<{ NetworksDeleted: string[] | null }>("POST", "/networks/prune", {
      query: { filters: filtersJson(flags.filter) },
    });
    const deleted = report.NetworksDeleted ?? [];
    if (deleted.length) await context.out.write(`Deleted Networks:\n${deleted.join("\n")}\n`);
    return 0;
  },
);
