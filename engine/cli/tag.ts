// `docker tag`: another name for an image.
import { defineVerb } from "./command.ts";
import { cliReference, familiarName } from "./reference.ts";

export const tag = defineVerb(
  {
    name: "tag",
    usage: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    summary: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    args: { min: 2, max: 2 },
    flags: [] as const,
  },
  async (context) => {
    const [source, target] = context.args;
    const reference = cliReference(target!);
    if (reference.digest) throw new Error("refusing to create a tag with a digest reference");
    const client = await context.client();
    await client.call("POST", `/images/${encodeURIComponent(source!)}/tag`, {
      query: { repo: familiarName(reference), tag: reference.tag },
    });
    return 0;
  },
);
