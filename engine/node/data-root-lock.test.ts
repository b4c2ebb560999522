import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { lockDataRoot } from "./data-root-lock.ts";
import { workspaceCommand } from "./workspace.ts";

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "drydock-lock-"));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Another live process, as a second drydock would be. */
function otherProcess() {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  const gone = new Promise((resolve) => child.once("exit", resolve));
  return {
    pid: child.pid!,
    stop: () => {
      child.kill("SIGKILL");
      return gone;
    },
  };
}

describe("lockDataRoot", () => {
  it("refuses a data root another live process holds, naming it, and takes it once that process is gone", async () => {
    const other = otherProcess();
    try {
      await writeFile(join(root, "lock"), `${JSON.stringify({ pid: other.pid, what: "drydock daemon" })}\n`);
      await expect(lockDataRoot(root, "drydock daemon")).rejects.toThrow(
        `the data root ${root} is in use by drydock daemon (pid ${other.pid}): stop it first, or give drydock daemon another --data-root`,
      );
    } finally {
      await other.stop();
    }
    // Killed without releasing it (SIGKILL): the lock is stale and taken over.
    const lock = await lockDataRoot(root, "drydock daemon");
    expect(JSON.parse(await readFile(join(root, "lock"), "utf8"))).toEqual({
      pid: process.pid,
      what: "drydock daemon",
    });
    await lock.release();
    await expect(readFile(join(root, "lock"))).rejects.toThrow(/ENOENT/);
  });

  it("refuses a second lock in the same process until the first is released", async () => {
    const lock = await lockDataRoot(root, "drydock daemon");
    await expect(lockDataRoot(root, "drydock workspace import")).rejects.toThrow(/already in use by this process/);
    await lock.release();
    await (await lockDataRoot(root, "drydock workspace import")).release();
  });

  it("makes drydock workspace import refuse a data root a daemon holds, writing nothing", async () => {
    const other = otherProcess();
    try {
      await writeFile(join(root, "lock"), `${JSON.stringify({ pid: other.pid, what: "drydock daemon" })}\n`);
      const stdin = new PassThrough();
      stdin.end();
      await expect(
        workspaceCommand(["import", "--data-root", root], { stdin, stdout: process.stdout, stderr: () => {} }),
      ).rejects.toThrow(`the data root ${root} is in use by drydock daemon (pid ${other.pid})`);
      expect(await readdir(root)).toEqual(["lock"]);
    } finally {
      await other.stop();
    }
  });
});
