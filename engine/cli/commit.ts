// `docker commit`: a container's changes become an image (`POST /commit`), its config changed by Dockerfile
// instructions (`-c`), with a message and author; prints the new image's ID.
import { defineVerb } from "./command.ts";
import { cliReference } from "./reference.ts";

export const commit = defineVerb(
  {
    name: "commit",
    usage: "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
    summary: "Create a new image from a container's changes",
    args: { min: 1, max: 2 },
    flags: [
      {
        name: "author",
        short: "a",
        type: "string",
        help: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")',
      },
      { name: "change", short: "c", type: "list", help: "Apply Dockerfile instruction to the created image" },
      { name: "message", short: "m", type: "string", help: "Commit message" },
      { name: "pause", short: "p", type: "bool", default: true, help: "Pause container during commit" },
    ] as const,
  },
  async (context) => {
    const [container, target] = context.args as [string, string | undefined];
    let repo: string | undefined;
    let tag: string | undefined;
    if (target) {
      const reference = cliReference(target);
      const slash = target.lastIndexOf("/");
      const colon = target.lastIndexOf(":");
      if (reference.tag !== undefined && colon > slash) {
        repo = target.slice(0, colon);
        tag = target.slice(colon + 1);
      } else {
        repo = target;
      }
    }
    const client = await context.client();
    const { Id } = await client.json<{ Id: string }>("POST", "/commit", {
      query: {
        container,
        repo,
        tag,
        comment: context.flags.message || undefined,
        author: context.flags.author || undefined,
        changes: context.flags.change,
        pause: context.flags.pause ? "1" : "0",
      },
      body: {},
      notFound: { object: "container", id: container },
    });
    await context.out.line(Id);
    return 0;
  },
);
