// `docker save` and `docker load`: an image archive on stdout, or read from stdin. The archive is one tar holding an
// OCI image layout and docker's manifest.json (what docker 25 writes), so either docker and skopeo read it.
// `-o` / `-i` name a file; where the CLI cannot open files (the page), it says to redirect instead.
import { defineVerb } from "./command.ts";
import { CliError } from "./errors.ts";
import { type JsonMessage, JsonMessageRenderer, jsonLines } from "./jsonmessage.ts";

export const save = defineVerb(
  {
    name: "save",
    usage: "[OPTIONS] IMAGE [IMAGE...]",
    summary: "Save one or more images to a tar archive (streamed to STDOUT by default)",
    args: { min: 1 },
    flags: [{ name: "output", short: "o", type: "string", help: "Write to a file, instead of STDOUT" }] as const,
  },
  async (context) => {
    if (context.flags.output) {
      throw new CliError(
        `cannot write ${context.flags.output} from here: redirect the output instead (docker save ${context.args.join(" ")} > ${context.flags.output})`,
      );
    }
    if (context.out.isTerminal) {
      throw new CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    const client = await context.client();
    const response = await client.request("GET", "/images/get", {
      query: { names: context.args },
      notFound: { object: "image", id: context.args[0]! },
    });
    if (!response.body) return 0;
    const reader = response.body.getReader();
    try {
      for (let next = await reader.read(); !next.done; next = await reader.read()) await context.out.write(next.value);
    } finally {
      reader.releaseLock();
    }
    return 0;
  },
);

export const load = defineVerb(
  {
    name: "load",
    usage: "[OPTIONS]",
    summary: "Load an image from a tar archive or STDIN",
    args: { max: 0 },
    flags: [
      { name: "input", short: "i", type: "string", help: "Read from tar archive file, instead of STDIN" },
      { name: "quiet", short: "q", type: "bool", help: "Suppress the load output" },
    ] as const,
  },
  async (context) => {
    if (context.flags.input) {
      throw new CliError(
        `cannot read ${context.flags.input} from here: redirect the input instead (docker load < ${context.flags.input})`,
      );
    }
    if (context.io.isTTY.stdin) {
      throw new CliError("requested load from stdin, but stdin is empty");
    }
    const client = await context.client();
    const response = await client.stream("POST", "/images/load", context.io.stdin, {
      query: { quiet: context.flags.quiet },
      headers: { "content-type": "application/x-tar" },
    });
    if (!response.body) return 0;
    const renderer = new JsonMessageRenderer(context.out.isTerminal, context.io.size()?.cols ?? 200);
    try {
      for await (const message of jsonLines(response.body)) {
        await context.out.write(renderer.render(message as JsonMessage));
      }
    } catch (error) {
      if (error instanceof Error && error.name === "JsonMessageError") throw new CliError(error.message);
      throw error;
    }
    return 0;
  },
);
