// `docker history`: an image's layers and the steps that made them, newest first.

import { ellipsis, humanDuration, humanSize, shortId } from "../conventions/index.ts";
import { defineVerb } from "./command.ts";
import { writeFormatted } from "./format.ts";
import { goStruct } from "./template.ts";

const DEFAULT_FORMAT = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const HEADER = {
  ID: "IMAGE",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  CreatedBy: "CREATED BY",
  Size: "SIZE",
  Comment: "COMMENT",
};

interface HistoryEntry {
  Id: string;
  Created: number;
  CreatedBy: string;
  Size: number;
  Comment: string;
}

export const history = defineVerb(
  {
    name: "history",
    usage: "[OPTIONS] IMAGE",
    summary: "Show the history of an image",
    args: { min: 1, max: 1 },
    flags: [
      { name: "format", type: "string", help: "Pretty-print images using a Go template" },
      {
        name: "human",
        short: "H",
        type: "bool",
        default: true,
        help: "Print sizes and dates in human readable format",
      },
      { name: "no-trunc", type: "bool", help: "Don't truncate output" },
      { name: "quiet", short: "q", type: "bool", help: "Only show image IDs" },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    const name = context.args[0]!;
    const client = await context.client();
    const entries = await client.json<HistoryEntry[]>("GET", `/images/${encodeURIComponent(name)}/history`);
    const truncate = !flags["no-trunc"];
    const now = Date.now();
    const rows = entries.map((entry) => {
      const createdBy = entry.CreatedBy.replaceAll("\t", " ");
      const created = new Date(entry.Created * 1000);
      return goStruct("*image.historyContext", {
        Comment: entry.Comment,
        CreatedAt: created.toISOString().replace(/\.\d+Z$/, "Z"),
        CreatedBy: truncate ? ellipsis(createdBy, 45) : createdBy,
        CreatedSince: flags.human
          ? `${humanDuration(now - entry.Created * 1000)} ago`
          : created.toISOString().replace(/\.\d+Z$/, "Z"),
        ID: truncate && entry.Id !== "<missing>" ? shortId(entry.Id) : entry.Id,
        Size: flags.human ? humanSize(entry.Size, 3) : String(entry.Size),
      });
    });
    await writeFormatted(
      context.out,
      { format: flags.quiet ? "{{.ID}}" : flags.format, defaultFormat: DEFAULT_FORMAT, header: HEADER },
      rows,
    );
    return 0;
  },
);
