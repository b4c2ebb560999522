// `docker image prune`: removes dangling images (with -a, every image no container uses), after asking unless -f,
// and says what went and how much space that freed.
import { humanSize } from "../conventions/index.ts";
import { defineVerb } from "./command.ts";

export const imagePrune = defineVerb(
  {
    name: "prune",
    usage: "[OPTIONS]",
    summary: "Remove unused images",
    args: { max: 0 },
    flags: [
      { name: "all", short: "a", type: "bool", help: "Remove all unused images, not just dangling ones" },
      { name: "force", short: "f", type: "bool", help: "Do not prompt for confirmation" },
    ] as const,
  },
  async (context) => {
    if (!context.flags.force) {
      const warning = context.flags.all
        ? "WARNING! This will remove all images without at least one container associated to them."
        : "WARNING! This will remove all dangling images.";
      await context.out.write(`${warning}\nAre you sure you want to continue? [y/N] `);
      const reader = context.io.stdin.getReader();
      let answer = "";
      try {
        const decoder = new TextDecoder();
        while (!answer.includes("\n")) {
          const next = await reader.read();
          if (next.done) break;
          answer += decoder.decode(next.value, { stream: true });
        }
      } finally {
        await reader.cancel().catch(() => {});
      }
      if (!/^y(es)?$/i.test(answer.trim())) {
        if (!answer.includes("\n")) await context.out.line("");
        return 0;
      }
    }
    const client = await context.client();
    const result = await client.json<{
      ImagesDeleted: ({ Untagged?: string; Deleted?: string } | null)[] | null;
      SpaceReclaimed: number;
    }>("POST", "/images/prune", {
      query: { filters: JSON.stringify(context.flags.all ? { dangling: { false: true } } : {}) },
    });
    const items = result.ImagesDeleted ?? [];
    if (items.length > 0) {
      await context.out.line("Deleted Images:");
      for (const item of items) {
        if (item?.Untagged) await context.out.line(`untagged: ${item.Untagged}`);
        if (item?.Deleted) await context.out.line(`deleted: ${item.Deleted}`);
      }
      await context.out.line("");
    }
    await context.out.line(`Total reclaimed space: ${humanSize(result.SpaceReclaimed)}`);
    return 0;
  },
);
