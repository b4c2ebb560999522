// One user of a data root at a time: `drydock daemon` keeps its volumes' trees, container records and writable layers
// in memory and writes them as it goes, so a second daemon, or a `drydock workspace import` writing underneath it,
// would leave a data root neither of them wrote. The holder writes its pid and what it is into `<root>/lock`
// (created exclusively); a lock whose process is gone (a daemon killed with SIGKILL, a machine that crashed) is
// taken over.
import { mkdir, open, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";

export interface DataRootLock {
  /** Gives the data root back (removes the lock file if it is still this process's). */
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  what: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: a process of another user has that pid, so it is alive.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function holderOf(file: string): Promise<Holder | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as Partial<Holder>;
    if (typeof parsed.pid === "number" && Number.isInteger(parsed.pid) && parsed.pid > 0)
      return { pid: parsed.pid, what: typeof parsed.what === "string" ? parsed.what : "drydock" };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
  }
  // Unreadable or half-written (a holder killed between create and write): no live holder can be named.
  return { pid: 0, what: "drydock" };
}

/**
 * Takes the data root for `what` (`drydock daemon`, `drydock workspace import`), or throws saying who holds it.
 * @example
 * const lock = await lockDataRoot("/var/lib/drydock", "drydock daemon");
 * process.once("exit", () => void lock.release());
 */
export async function lockDataRoot(root: string, what: string): Promise<DataRootLock> {
  await mkdir(root, { recursive: true });
  const file = join(root, "lock");
  const mine = JSON.stringify({ pid: process.pid, what });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, "wx", 0o644);
      try {
        await handle.writeFile(`${mine}\n`);
      } finally {
        await handle.close();
      }
      return {
        async release() {
          if ((await readFile(file, "utf8").catch(() => "")).trim() === mine) await unlink(file).catch(() => {});
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = await holderOf(file);
    if (holder && holder.pid !== 0 && holder.pid !== process.pid && alive(holder.pid)) {
      throw new Error(
        `the data root ${root} is in use by ${holder.what} (pid ${holder.pid}): stop it first, or give ${what} another --data-root`,
      );
    }
    if (holder && holder.pid === process.pid) {
      throw new Error(`the data root ${root} is already in use by this process (${holder.what})`);
    }
    // Its holder is gone: the lock is stale.
    await unlink(file).catch(() => {});
  }
  throw new Error(
    `the data root ${root} is being taken by another drydock at this moment: try again, or give ${what} another --data-root`,
  );
}
