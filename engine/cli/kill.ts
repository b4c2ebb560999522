// `docker kill`: sends a signal (KILL unless -s says otherwise); prints each container.
import { defineVerb } from "./command.ts";
import { eachTarget } from "./targets.ts";

export const kill = defineVerb(
  {
    name: "kill",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    summary: "Kill one or more running containers",
    args: { min: 1 },
    flags: [
      { name: "signal", short: "s", type: "string", default: "KILL", help: "Signal to send to the container" },
    ] as const,
  },
  async (context) => {
    const client = await context.client();
    return eachTarget(context, context.args, (name) =>
      client.call("POST", `/containers/${encodeURIComponent(name)}/kill`, { query: { signal: context.flags.signal } }),
    );
  },
);
