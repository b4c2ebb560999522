// `docker top`: the container's processes, as the daemon's ps lists them.
import { defineVerb } from "./command.ts";
import { tabwrite } from "./table.ts";

export const top = defineVerb(
  {
    name: "top",
    usage: "CONTAINER [ps OPTIONS]",
    summary: "Display the running processes of a container",
    interspersed: false,
    args: { min: 1 },
    flags: [] as const,
  },
  async (context) => {
    const [name, ...psArgs] = context.args;
    const client = await context.client();
    const result = await client.json<{ Titles: string[]; Processes: string[][] | null }>(
      "GET",
      `/containers/${encodeURIComponent(name!)}/top`,
      { query: { ps_args: psArgs.length > 0 ? psArgs.join(" ") : undefined } },
    );
    const lines = [result.Titles.join("\t"), ...(result.Processes ?? []).map((process) => process.join("\t"))];
    await context.out.write(tabwrite(`${lines.join("\n")}\n`, { minWidth: 20, padding: 3 }));
    return 0;
  },
);
