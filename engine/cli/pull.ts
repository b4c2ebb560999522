// `docker pull`: the daemon pulls, the CLI shows its progress stream (a line per status, or redrawn per layer on a
// terminal) and ends with the fully qualified reference.
import { defineVerb } from "./command.ts";
import { pullImage } from "./container-options.ts";
import { cliReference, qualifiedReference } from "./reference.ts";

export const pull = defineVerb(
  {
    name: "pull",
    usage: "[OPTIONS] NAME[:TAG|@DIGEST]",
    summary: "Pull an image or a repository from a registry",
    args: { min: 1, max: 1 },
    flags: [
      { name: "all-tags", short: "a", type: "bool", help: "Download all tagged images in the repository" },
      { name: "disable-content-trust", type: "bool", default: true, help: "Skip image verification" },
      { name: "platform", type: "string", help: "Set platform if server is multi-platform capable" },
      { name: "quiet", short: "q", type: "bool", help: "Suppress verbose output" },
    ] as const,
  },
  async (context) => {
    const text = context.args[0]!;
    const reference = cliReference(text);
    if (!/[:@]/.test(text.slice(text.lastIndexOf("/") + 1))) await context.out.line("Using default tag: latest");
    await pullImage(context, text, context.flags.quiet ? undefined : context.out, context.flags.platform);
    await context.out.line(qualifiedReference(reference));
    return 0;
  },
);
