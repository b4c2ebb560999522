// `docker network inspect`: the daemon's JSON of each network, indented as docker prints it, or through --format.
import { defineVerb } from "./command.ts";
import { CliError, describeFailure } from "./errors.ts";
import { compileTemplate, renderTemplate } from "./format.ts";

export const networkInspect = defineVerb(
  {
    name: "inspect",
    usage: "[OPTIONS] NETWORK [NETWORK...]",
    summary: "Display detailed information on one or more networks",
    args: { min: 1 },
    topLevel: false,
    flags: [
      { name: "format", short: "f", type: "string", help: "Format output using a custom template" },
      { name: "verbose", short: "v", type: "bool", help: "Verbose output for diagnostics" },
    ] as const,
  },
  async (context) => {
    const client = await context.client();
    const template = context.flags.format ? compileTemplate(context.flags.format) : undefined;
    const found: unknown[] = [];
    const failures: string[] = [];
    for (const name of context.args) {
      try {
        found.push(await client.json("GET", `/networks/${encodeURIComponent(name)}`));
      } catch (error) {
        failures.push(describeFailure(error).message);
      }
    }
    if (template) for (const object of found) await context.out.line(renderTemplate(template, object));
    else await context.out.line(JSON.stringify(found, null, 4));
    if (failures.length > 0) throw new CliError(failures.join("\n"));
    return 0;
  },
);
