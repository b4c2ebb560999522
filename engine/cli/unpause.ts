// `docker unpause`: thaws paused containers.
import { defineVerb } from "./command.ts";
import { eachTarget } from "./targets.ts";

export const unpause = defineVerb(
  {
    name: "unpause",
    usage: "CONTAINER [CONTAINER...]",
    summary: "Unpause all processes within one or more containers",
    args: { min: 1 },
    flags: [] as const,
  },
  async (context) => {
    const client = await context.client();
    return eachTarget(context, context.args, (name) =>
      client.call("POST", `/containers/${encodeURIComponent(name)}/unpause`),
    );
  },
);
