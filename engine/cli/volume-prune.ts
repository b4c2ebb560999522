// `docker volume prune`: removes the volumes no container uses (anonymous ones, or all with -a), after asking.
import { humanSize } from "../conventions/index.ts";
import { defineVerb } from "./command.ts";
import { filtersJson } from "./ps.ts";

/** Reads one line of the user's answer; only y or yes goes ahead, as docker asks. */
export async function confirmed(stdin: ReadableStream<Uint8Array>): Promise<boolean> {
  const reader = stdin.getReader();
  const decoder = new TextDecoder();
  let answer = "";
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      answer += decoder.decode(next.value, { stream: true });
      if (answer.includes("\n")) break;
    }
  } finally {
    reader.releaseLock();
  }
  return /^\s*y(es)?\s*$/i.test(answer.split("\n")[0] ?? "");
}

export const volumePrune = defineVerb(
  {
    name: "prune",
    usage: "[OPTIONS]",
    summary: "Remove unused local volumes",
    args: { max: 0 },
    topLevel: false,
    flags: [
      { name: "all", short: "a", type: "bool", help: "Remove all unused volumes, not just anonymous ones" },
      { name: "filter", type: "list", valueName: "filter", help: 'Provide filter values (e.g. "label=<label>")' },
      { name: "force", short: "f", type: "bool", help: "Do not prompt for confirmation" },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    if (!flags.force) {
      await context.out.write(
        `WARNING! This will remove ${flags.all ? "all" : "anonymous"} local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] `,
      );
      if (!(await confirmed(context.io.stdin))) return 0;
    }
    const client = await context.client();
    const filters = [...flags.filter, ...(flags.all ? ["all=true"] : [])];
    const report = await client.json<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>(
      "POST",
      "/volumes/prune",
      { query: { filters: filtersJson(filters) } },
    );
    const deleted = report.VolumesDeleted ?? [];
    if (deleted.length) await context.out.write(`Deleted Volumes:\n${deleted.join("\n")}\n\n`);
    await context.out.line(`Total reclaimed space: ${humanSize(report.SpaceReclaimed)}`);
    return 0;
  },
);
