// `docker push`: the daemon pushes, the CLI shows its progress stream as it shows a pull's. As docker 20.10's client:
// a name without a tag pushes `latest` (`Using default tag: latest`), `--all-tags` every tag of the repository.

import { defineVerb } from "./command.ts";
import { CliError } from "./errors.ts";
import { type JsonMessage, JsonMessageRenderer, jsonLines } from "./jsonmessage.ts";
import { cliReference, familiarName } from "./reference.ts";
import { interruptible } from "./signals.ts";

export const push = defineVerb(
  {
    name: "push",
    usage: "[OPTIONS] NAME[:TAG]",
    summary: "Push an image or a repository to a registry",
    args: { min: 1, max: 1 },
    flags: [
      { name: "all-tags", short: "a", type: "bool", help: "Push all tagged images in the repository" },
      { name: "disable-content-trust", type: "bool", default: true, help: "Skip image signing" },
      { name: "quiet", short: "q", type: "bool", help: "Suppress verbose output" },
    ] as const,
  },
  async (context) => {
    const text = context.args[0]!;
    const reference = cliReference(text);
    const tagged = /:[^/]+$/.test(text.replace(/@.*$/, ""));
    if (reference.digest) throw new CliError("cannot push a digest reference");
    if (context.flags["all-tags"] && tagged) throw new CliError("tag can't be used with --all-tags/-a");
    let tag: string | undefined = reference.tag;
    if (context.flags["all-tags"]) tag = undefined;
    else if (!tagged) await context.out.line("Using default tag: latest");
    const name = familiarName(reference);
    const client = await context.client();
    const response = await client.request("POST", `/images/${encodeURIComponent(name)}/push`, {
      query: { tag },
      notFound: { object: "image", id: text },
    });
    const renderer = new JsonMessageRenderer(context.out.isTerminal, context.io.size()?.cols ?? 200);
    if (!response.body) return 0;
    try {
      for await (const message of jsonLines(interruptible(context.io, response.body))) {
        const text = renderer.render(message as JsonMessage);
        if (!context.flags.quiet) await context.out.write(text);
      }
    } catch (error) {
      if (error instanceof Error && error.name === "JsonMessageError") throw new CliError(error.message);
      throw error;
    }
    if (context.flags.quiet) await context.out.line(`${name}${tag ? `:${tag}` : ""}`);
    return 0;
  },
);
