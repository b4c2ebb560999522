// `docker wait`: blocks until each container stops, then prints its exit code.
import { defineVerb } from "./command.ts";
import { eachTarget } from "./targets.ts";

export const wait = defineVerb(
  {
    name: "wait",
    usage: "CONTAINER [CONTAINER...]",
    summary: "Block until one or more containers stop, then print their exit codes",
    args: { min: 1 },
    flags: [] as const,
  },
  async (context) => {
    const client = await context.client();
    return eachTarget(context, context.args, async (name) => {
      const result = await client.json<{ StatusCode: number }>("POST", `/containers/${encodeURIComponent(name)}/wait`);
      return [String(result.StatusCode)];
    });
  },
);
