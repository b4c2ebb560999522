// `docker network rm`: removes networks by name or id; a predefined one, or one containers run on, is refused by the
// daemon in its words.
import { defineVerb } from "./command.ts";
import { eachTarget } from "./targets.ts";

export const networkRm = defineVerb(
  {
    name: "rm",
    usage: "NETWORK [NETWORK...]",
    summary: "Remove one or more networks",
    args: { min: 1 },
    topLevel: false,
    flags: [{ name: "force", short: "f", type: "bool", help: "Do not error if the network does not exist" }] as const,
  },
  async (context) => {
    const client = await context.client();
    return eachTarget(
      context,
      context.args,
      (name) => client.call("DELETE", `/networks/${encodeURIComponent(name)}`),
      async (error) => context.flags.force && /not found|No such network/.test(String((error as Error).message)),
    );
  },
);
