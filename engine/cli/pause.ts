// `docker pause`: freezes every process of each container (cgroup freezer).
import { defineVerb } from "./command.ts";
import { eachTarget } from "./targets.ts";

export const pause = defineVerb(
  {
    name: "pause",
    usage: "CONTAINER [CONTAINER...]",
    summary: "Pause all processes within one or more containers",
    args: { min: 1 },
    flags: [] as const,
  },
  async (context) => {
    const client = await context.client();
    return eachTarget(context, context.args, (name) =>
      client.call("POST", `/containers/${encodeURIComponent(name)}/pause`),
    );
  },
);
