// What `docker container prune` and `docker system prune` share: docker's confirmation prompt and the report of what
// went (`Deleted Containers:` with one ID a line, then `Total reclaimed space:`).
import { humanSize } from "../conventions/index.ts";
import type { CommonContext } from "./command.ts";

/**
 * Prints `warning` and docker's `Are you sure you want to continue? [y/N]`, then reads one line of stdin: true only
 * for `y` or `Y`, as docker's PromptForConfirmation.
 * @example
 * if (!(await confirm(context, "WARNING! This will remove all stopped containers."))) return 0;
 */
export async function confirm(context: CommonContext, warning: string): Promise<boolean> {
  await context.out.write(`${warning}\nAre you sure you want to continue? [y/N] `);
  const reader = context.io.stdin.getReader();
  const decoder = new TextDecoder();
  let line = "";
  try {
    while (!line.includes("\n")) {
      const { done, value } = await reader.read();
      if (done) break;
      line += decoder.decode(value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  return /^[yY]$/.test(line.split(/\r?\n/)[0]?.trim() ?? "");
}

/** `Deleted Containers:` (or Images) and the IDs, with docker's blank line after the list. */
export async function reportDeleted(context: CommonContext, title: string, ids: string[] | null | undefined) {
  if (!ids?.length) return;
  await context.out.write(`${title}:\n${ids.map((id) => `${id}\n`).join("")}\n`);
}

export async function reportReclaimed(context: CommonContext, bytes: number): Promise<void> {
  await context.out.line(`Total reclaimed space: ${humanSize(bytes)}`);
}
