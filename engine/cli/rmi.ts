// `docker rmi` / `docker image rm`: untags and deletes images, printing each step the daemon reports.
import { defineVerb } from "./command.ts";
import { eachTarget } from "./targets.ts";

export const rmi = defineVerb(
  {
    name: "rmi",
    usage: "[OPTIONS] IMAGE [IMAGE...]",
    summary: "Remove one or more images",
    args: { min: 1 },
    flags: [
      { name: "force", short: "f", type: "bool", help: "Force removal of the image" },
      { name: "no-prune", type: "bool", help: "Do not delete untagged parents" },
    ] as const,
  },
  async (context) => {
    const client = await context.client();
    return eachTarget(context, context.args, async (name) => {
      const removed = await client.json<{ Untagged?: string; Deleted?: string }[]>(
        "DELETE",
        `/images/${encodeURIComponent(name)}`,
        {
          query: { force: context.flags.force || undefined, noprune: context.flags["no-prune"] || undefined },
          notFound: { object: "image", id: name },
        },
      );
      return removed.map((item) => (item.Deleted ? `Deleted: ${item.Deleted}` : `Untagged: ${item.Untagged}`));
    });
  },
);
