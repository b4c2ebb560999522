// `docker stop`: SIGTERM, then SIGKILL after --time seconds; prints each container it stopped.
import { defineVerb } from "./command.ts";
import { eachTarget } from "./targets.ts";

export const stop = defineVerb(
  {
    name: "stop",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    summary: "Stop one or more running containers",
    args: { min: 1 },
    flags: [
      { name: "time", short: "t", type: "int", default: 10, help: "Seconds to wait for stop before killing it" },
    ] as const,
  },
  async (context) => {
    const client = await context.client();
    const query = { t: context.changed.has("time") ? context.flags.time : undefined };
    return eachTarget(context, context.args, (name) =>
      client.call("POST", `/containers/${encodeURIComponent(name)}/stop`, { query }),
    );
  },
);
