// `docker images` / `docker image ls`: one row per repository and tag, sizes as docker rounds them.

import { humanDuration, humanSize, shortId } from "../conventions/index.ts";
import { parseReference } from "../oci/index.ts";
import { defineVerb } from "./command.ts";
import { goTimeString, writeFormatted } from "./format.ts";
import { filtersJson } from "./ps.ts";
import { familiarName } from "./reference.ts";
import { goStruct } from "./template.ts";

/** An image as `GET /images/json` lists it. */
export interface ImageSummary {
  Id: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Created: number;
  Size: number;
  VirtualSize?: number;
  SharedSize?: number;
  Containers?: number;
}

const DEFAULT_FORMAT =
  "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";
const DIGEST_FORMAT =
  "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";
const HEADER = {
  ID: "IMAGE ID",
  Repository: "REPOSITORY",
  Tag: "TAG",
  Digest: "DIGEST",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  Size: "SIZE",
  Containers: "CONTAINERS",
  VirtualSize: "SIZE",
  SharedSize: "SHARED SIZE",
  UniqueSize: "UNIQUE SIZE",
};

/**
 * The rows `docker images` shows for one image: one per tag, `<none>` for a dangling one.
 * @example
 * imageRows(summary, { truncate: true, digests: false, now: Date.now() }).map((row) => row.Tag); // ["latest"]
 */
export function imageRows(image: ImageSummary, options: { truncate: boolean; digests: boolean; now: number }) {
  const row = (repository: string, tag: string, digest: string) =>
    goStruct("*formatter.imageContext", {
      Containers: image.Containers === undefined || image.Containers === -1 ? "N/A" : String(image.Containers),
      CreatedAt: goTimeString(new Date(image.Created * 1000)),
      CreatedSince: `${humanDuration(options.now - image.Created * 1000)} ago`,
      Digest: digest,
      ID: options.truncate ? shortId(image.Id) : image.Id,
      Repository: repository,
      SharedSize: image.SharedSize === undefined || image.SharedSize === -1 ? "N/A" : humanSize(image.SharedSize),
      Size: humanSize(image.Size, 3),
      Tag: tag,
      UniqueSize:
        image.SharedSize === undefined || image.SharedSize === -1
          ? "N/A"
          : humanSize((image.VirtualSize ?? image.Size) - image.SharedSize),
      VirtualSize: humanSize(image.VirtualSize ?? image.Size),
    });
  const tags = (image.RepoTags ?? []).filter((tag) => tag !== "<none>:<none>");
  const digests = (image.RepoDigests ?? []).filter((digest) => digest !== "<none>@<none>");
  if (tags.length === 0 && digests.length === 0) return [row("<none>", "<none>", "<none>")];
  const byRepository = new Map<string, { tags: string[]; digests: string[] }>();
  const entry = (name: string) => {
    const found = byRepository.get(name) ?? { tags: [], digests: [] };
    byRepository.set(name, found);
    return found;
  };
  for (const text of tags) {
    try {
      const reference = parseReference(text);
      if (reference.tag) entry(familiarName(reference)).tags.push(reference.tag);
    } catch {
      // docker skips names it cannot parse.
    }
  }
  for (const text of digests) {
    try {
      const reference = parseReference(text);
      if (reference.digest) entry(familiarName(reference)).digests.push(reference.digest);
    } catch {
      // As above.
    }
  }
  const rows = [];
  for (const [repository, found] of byRepository) {
    if (found.tags.length === 0) {
      if (options.digests) for (const digest of found.digests) rows.push(row(repository, "<none>", digest));
      else rows.push(row(repository, "<none>", ""));
      continue;
    }
    for (const tag of found.tags) {
      if (!options.digests || found.digests.length === 0) rows.push(row(repository, tag, "<none>"));
      else for (const digest of found.digests) rows.push(row(repository, tag, digest));
    }
  }
  return rows;
}

export const images = defineVerb(
  {
    name: "images",
    usage: "[OPTIONS] [REPOSITORY[:TAG]]",
    summary: "List images",
    args: { max: 1 },
    flags: [
      { name: "all", short: "a", type: "bool", help: "Show all images (default hides intermediate images)" },
      { name: "digests", type: "bool", help: "Show digests" },
      {
        name: "filter",
        short: "f",
        type: "list",
        valueName: "filter",
        help: "Filter output based on conditions provided",
      },
      { name: "format", type: "string", help: "Pretty-print images using a Go template" },
      { name: "no-trunc", type: "bool", help: "Don't truncate output" },
      { name: "quiet", short: "q", type: "bool", help: "Only show image IDs" },
    ] as const,
  },
  async (context) => {
    const { flags } = context;
    const client = await context.client();
    const filters = [...flags.filter];
    if (context.args[0]) filters.push(`reference=${context.args[0]}`);
    const list = await client.json<ImageSummary[]>("GET", "/images/json", {
      query: { all: flags.all || undefined, filters: filtersJson(filters) },
    });
    const digests = flags.digests || flags.format.includes("{{.Digest}}");
    const now = Date.now();
    let rows = list.flatMap((image) => imageRows(image, { truncate: !flags["no-trunc"], digests, now }));
    if (flags.quiet) {
      // docker -q lists each image once.
      const seen = new Set<string>();
      rows = rows.filter((row) => !seen.has(row.ID) && seen.add(row.ID));
    }
    await writeFormatted(
      context.out,
      {
        format: flags.quiet ? "{{.ID}}" : flags.format,
        defaultFormat: flags.digests ? DIGEST_FORMAT : DEFAULT_FORMAT,
        header: HEADER,
      },
      rows,
    );
    return 0;
  },
);
