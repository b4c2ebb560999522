// `docker create`: the container without starting it; prints its id.
import { defineVerb } from "./command.ts";
import { CONTAINER_FLAGS, containerConfig, createContainer } from "./container-options.ts";
import { CliError, CommandStopped, describeFailure } from "./errors.ts";
import { FlagError } from "./flags.ts";
import { reportRunError } from "./run.ts";

export const create = defineVerb(
  {
    name: "create",
    usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
    summary: "Create a new container",
    interspersed: false,
    args: { min: 1 },
    flags: CONTAINER_FLAGS,
  },
  async (context) => {
    const [image, ...command] = context.args;
    let body: ReturnType<typeof containerConfig>;
    try {
      body = containerConfig(context.flags, context.changed, image!, command, context.io.env);
    } catch (error) {
      if (error instanceof FlagError) throw new CliError(reportRunError(error.message, "create", true), 125);
      throw error;
    }
    try {
      await context.out.line(
        await createContainer(context, body, context.flags.name, context.flags.pull, context.flags.platform),
      );
    } catch (error) {
      if (error instanceof CommandStopped) throw error;
      throw new CliError(reportRunError(describeFailure(error).message, "create", true), 125);
    }
    return 0;
  },
);
