// `docker volume create`: makes a volume (a name, or a random one) and prints its name.
import { defineVerb } from "./command.ts";
import { FlagError } from "./flags.ts";

function pairs(list: string[], flag: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const entry of list) {
    const equals = entry.indexOf("=");
    if (flag === "opt" && equals < 0)
      throw new FlagError(`invalid argument "${entry}" for "-o, --opt" flag: must be key=value`);
    map[equals < 0 ? entry : entry.slice(0, equals)] = equals < 0 ? "" : entry.slice(equals + 1);
  }
  return map;
}

export const volumeCreate = defineVerb(
  {
    name: "create",
    usage: "[OPTIONS] [VOLUME]",
    summary: "Create a volume",
    args: { max: 1 },
    topLevel: false,
    flags: [
      { name: "driver", short: "d", type: "string", default: "local", help: "Specify volume driver name" },
      { name: "label", type: "list", help: "Set metadata for a volume" },
      { name: "name", type: "string", help: "Specify volume name" },
      { name: "opt", short: "o", type: "list", help: "Set driver specific options" },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    if (flags.name && context.args[0] && flags.name !== context.args[0])
      throw new FlagError(
        `conflicting options: cannot specify a volume-name through both --name and as a positional arg`,
      );
    const client = await context.client();
    const volume = await client.json<{ Name: string }>("POST", "/volumes/create", {
      body: {
        Name: context.args[0] ?? flags.name,
        Driver: flags.driver,
        DriverOpts: pairs(flags.opt, "opt"),
        Labels: pairs(flags.label, "label"),
      },
    });
    await context.out.line(volume.Name);
    return 0;
  },
);
