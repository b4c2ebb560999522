// `docker rm`: removes containers (-f kills a running one first); with -f a missing one is only reported.
import { defineVerb } from "./command.ts";
import { DaemonError } from "./errors.ts";
import { eachTarget } from "./targets.ts";

export const rm = defineVerb(
  {
    name: "rm",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    summary: "Remove one or more containers",
    args: { min: 1 },
    flags: [
      { name: "force", short: "f", type: "bool", help: "Force the removal of a running container (uses SIGKILL)" },
      { name: "link", short: "l", type: "bool", help: "Remove the specified link" },
      { name: "volumes", short: "v", type: "bool", help: "Remove anonymous volumes associated with the container" },
    ] as const,
  },
  async (context) => {
    const client = await context.client();
    const { force, volumes } = context.flags;
    return eachTarget(
      context,
      context.args,
      async (name) => {
        const trimmed = name.replace(/^\/+|\/+$/g, "");
        if (trimmed === "") throw new Error("Container name cannot be empty");
        await client.call("DELETE", `/containers/${encodeURIComponent(trimmed)}`, {
          query: { force: force || undefined, v: volumes || undefined },
          notFound: { object: "container", id: trimmed },
        });
      },
      async (error) => {
        // With -f a missing container is reported but does not fail the command.
        if (force && error instanceof DaemonError && error.httpStatus === 404) {
          await context.err.line(error.message);
          return true;
        }
        return false;
      },
    );
  },
);
