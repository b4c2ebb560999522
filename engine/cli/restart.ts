// `docker restart`: stop (with --time) and start again; prints each container.
import { defineVerb } from "./command.ts";
import { eachTarget } from "./targets.ts";

export const restart = defineVerb(
  {
    name: "restart",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    summary: "Restart one or more containers",
    args: { min: 1 },
    flags: [
      {
        name: "time",
        short: "t",
        type: "int",
        default: 10,
        help: "Seconds to wait for stop before killing the container",
      },
    ] as const,
  },
  async (context) => {
    const client = await context.client();
    const query = { t: context.changed.has("time") ? context.flags.time : undefined };
    return eachTarget(context, context.args, (name) =>
      client.call("POST", `/containers/${encodeURIComponent(name)}/restart`, { query }),
    );
  },
);
