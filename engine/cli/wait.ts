// `docker wait`: blocks until each container stops, then prints its exit code; Ctrl-C ends the wait (exit 130).
import { defineVerb } from "./command.ts";
import { jsonLines } from "./jsonmessage.ts";
import { interruptible } from "./signals.ts";
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
      const response = await client.request("POST", `/containers/${encodeURIComponent(name)}/wait`);
      let code = "";
      if (response.body) {
        for await (const result of jsonLines(interruptible(context.io, response.body))) {
          code = String((result as { StatusCode: number }).StatusCode);
        }
      }
      return [code];
    });
  },
);
