// `docker diff`: what a container changed in its filesystem, from its writable layer (A added, C changed, D deleted).
import { defineVerb } from "./command.ts";

const KINDS = ["C", "A", "D"];

export const diff = defineVerb(
  {
    name: "diff",
    usage: "CONTAINER",
    summary: "Inspect changes to files or directories on a container's filesystem",
    args: { min: 1, max: 1 },
    flags: [] as const,
  },
  async (context) => {
    const client = await context.client();
    const changes = await client.json<{ Path: string; Kind: number }[] | null>(
      "GET",
      `/containers/${encodeURIComponent(context.args[0]!)}/changes`,
    );
    const text = (changes ?? []).map((change) => `${KINDS[change.Kind] ?? "?"} ${change.Path}\n`).join("");
    if (text) await context.out.write(text);
    return 0;
  },
);
