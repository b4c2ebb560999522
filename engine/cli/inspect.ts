// `docker inspect` (containers, then images) and `docker container inspect` / `docker image inspect`: the daemon's
// JSON, indented as docker prints it, or each object through --format.
import { defineVerb, type Verb } from "./command.ts";
import { CliError, DaemonError, describeFailure } from "./errors.ts";
import { compileTemplate, renderTemplate } from "./format.ts";

type ObjectType = "container" | "image";

const FLAGS = [
  { name: "format", short: "f", type: "string", help: "Format the output using the given Go template" },
  { name: "size", short: "s", type: "bool", help: "Display total file sizes if the type is container" },
  { name: "type", type: "string", help: "Return JSON for specified type" },
] as const;

function inspectVerb(fixedType: ObjectType | undefined, name: string): Verb {
  return defineVerb(
    {
      name,
      usage: fixedType
        ? `[OPTIONS] ${fixedType.toUpperCase()} [${fixedType.toUpperCase()}...]`
        : "[OPTIONS] NAME|ID [NAME|ID...]",
      summary: fixedType
        ? `Display detailed information on one or more ${fixedType}s`
        : "Return low-level information on Docker objects",
      args: { min: 1 },
      topLevel: fixedType === undefined,
      flags: fixedType ? FLAGS.filter((flag) => flag.name !== "type") : FLAGS,
    },
    async (context) => {
      const flags = context.flags as { format: string; size: boolean; type?: string };
      const type = fixedType ?? (flags.type || undefined);
      if (type !== undefined && type !== "container" && type !== "image")
        throw new CliError(`"${type}" is not a valid value for --type`);
      const client = await context.client();
      const template = flags.format ? compileTemplate(flags.format) : undefined;
      const found: unknown[] = [];
      const failures: string[] = [];
      for (const target of context.args) {
        const attempts: ObjectType[] = type ? [type as ObjectType] : ["container", "image"];
        let object: unknown;
        let failure: string | undefined;
        for (const kind of attempts) {
          const path =
            kind === "container"
              ? `/containers/${encodeURIComponent(target)}/json`
              : `/images/${encodeURIComponent(target)}/json`;
          try {
            object = await client.json("GET", path, {
              query: kind === "container" && flags.size ? { size: true } : undefined,
              notFound: { object: kind, id: target },
            });
            break;
          } catch (error) {
            if (!(error instanceof DaemonError && error.httpStatus === 404)) {
              failure = describeFailure(error).message;
              break;
            }
            failure = type ? error.message : `Error: No such object: ${target}`;
          }
        }
        if (object === undefined) failures.push(failure!);
        else found.push(object);
      }
      if (template) {
        for (const object of found) await context.out.line(renderTemplate(template, object));
      } else {
        await context.out.line(JSON.stringify(found, null, 4));
      }
      if (failures.length > 0) throw new CliError(failures.join("\n"));
      return 0;
    },
  );
}

export const inspect = inspectVerb(undefined, "inspect");
export const containerInspect = inspectVerb("container", "inspect");
export const imageInspect = inspectVerb("image", "inspect");
