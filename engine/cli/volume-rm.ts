// `docker volume rm`: removes volumes; one a container uses is refused by the daemon (unless -f is of no help: it
// only hides a missing volume, as in docker).
import { defineVerb } from "./command.ts";
import { eachTarget } from "./targets.ts";

export const volumeRm = defineVerb(
  {
    name: "rm",
    usage: "[OPTIONS] VOLUME [VOLUME...]",
    summary: "Remove one or more volumes",
    args: { min: 1 },
    topLevel: false,
    flags: [{ name: "force", short: "f", type: "bool", help: "Force the removal of one or more volumes" }] as const,
  },
  async (context) => {
    const client = await context.client();
    return eachTarget(context, context.args, (name) =>
      client.call("DELETE", `/volumes/${encodeURIComponent(name)}`, {
        query: { force: context.flags.force || undefined },
      }),
    );
  },
);
