// A workspace carries one data root's images, volumes and containers into another: `drydock workspace export` on a
// stopped daemon's data root, `drydock workspace import` into an empty one, and a daemon started there has them all,
// the container's own files included. A damaged blob is refused and leaves the target as it was.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTarDecoder, type ParsedTarEntry, packTar } from "modern-tar";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEBIAN_DOCKER } from "../fixtures/docker-cli.ts";
import { type SeededImage, seedRegistry } from "../fixtures/images.ts";
import { NodeDaemon } from "../fixtures/node-daemon.ts";
import { type Registry, startRegistry } from "../fixtures/registry.ts";

let registry: Registry;
let busybox: SeededImage;
let dirA: string;
let dirB: string;
let daemonA: NodeDaemon;
let daemonB: NodeDaemon | undefined;

/** `drydock workspace <action> --data-root <root>`, stdin from a file or stdout into one. */
function drydockWorkspace(
  action: "export" | "import",
  root: string,
  file: string,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "engine/node/bin.ts", "workspace", action, "--data-root", root],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    let stderr = "";
    const out: Buffer[] = [];
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.on("error", reject);
    child.on("close", async (code) => {
      if (action === "export") await writeFile(file, Buffer.concat(out));
      resolve({ code, stderr });
    });
    if (action === "import") {
      readFile(file).then((bytes) => child.stdin.end(bytes), reject);
    } else {
      child.stdin.end();
    }
  });
}

/** Every file under a directory with its bytes, to tell whether anything changed. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  if (!existsSync(dir)) return files;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[path] = (await readFile(path)).toString("base64");
  }
  return files;
}

const KEEPER_SCRIPT = "if [ -f /mine.txt ]; then cat /mine.txt; else echo made in A > /mine.txt; fi";

beforeAll(async () => {
  if (!existsSync(DEBIAN_DOCKER))
    throw new Error("docker is not installed: run `bash scripts/system-deps.sh` (docker.io)");
  registry = await startRegistry();
  ({ busybox } = await seedRegistry(registry, ["busybox"]));
  dirA = await mkdtemp(join(tmpdir(), "drydock-workspace-a-"));
  dirB = await mkdtemp(join(tmpdir(), "drydock-workspace-b-"));
  daemonA = new NodeDaemon(dirA);
  await daemonA.start();
});

afterAll(async () => {
  await daemonA?.stop();
  await daemonB?.stop();
  await registry?.stop();
  for (const dir of [dirA, dirB]) if (dir) await rm(dir, { recursive: true, force: true });
});

describe("drydock workspace export and import", () => {
  it("carries images, volumes and a stopped container with its files into an empty data root", async () => {
    expect((await daemonA.docker(["pull", busybox.reference])).code).toBe(0);
    expect((await daemonA.docker(["volume", "create", "notes"])).code).toBe(0);
    const wrote = await daemonA.docker([
      "run",
      "--rm",
      "-v",
      "notes:/notes",
      busybox.reference,
      "sh",
      "-c",
      "echo hello from A > /notes/hi.txt",
    ]);
    expect(wrote).toMatchObject({ code: 0 });
    const keeper = await daemonA.docker(["run", "--name", "keeper", busybox.reference, "sh", "-c", KEEPER_SCRIPT]);
    expect(keeper).toMatchObject({ code: 0, stdout: "" });
    await daemonA.stop();

    const tar = join(dirA, "workspace.tar");
    const exported = await drydockWorkspace("export", join(dirA, "root"), tar);
    expect(exported).toMatchObject({ code: 0, stderr: "" });

    // A damaged copy (one byte of the largest blob changed) is refused, and B is left as it was.
    const members: { name: string; body: Uint8Array }[] = [];
    const decoded = new Blob([await readFile(tar)]).stream().pipeThrough(createTarDecoder());
    for await (const entry of decoded as unknown as AsyncIterable<ParsedTarEntry>) {
      members.push({ name: entry.header.name, body: new Uint8Array(await new Response(entry.body).arrayBuffer()) });
    }
    const largest = members
      .filter((m) => m.name.startsWith("blobs/"))
      .reduce((a, b) => (b.body.byteLength > a.body.byteLength ? b : a));
    largest.body[Math.floor(largest.body.byteLength / 2)]! ^= 0xff;
    const damaged = join(dirA, "damaged.tar");
    await writeFile(
      damaged,
      await packTar(
        members.map(({ name, body }) => ({ header: { name, size: body.byteLength, type: "file" as const }, body })),
      ),
    );
    const rootB = join(dirB, "root");
    const before = await snapshot(rootB);
    const refused = await drydockWorkspace("import", rootB, damaged);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/blob sha256:[0-9a-f]{64} is damaged.*nothing was imported/);
    expect(await snapshot(rootB)).toEqual(before);

    const imported = await drydockWorkspace("import", rootB, tar);
    expect(imported).toMatchObject({ code: 0 });
    expect(imported.stderr).toContain("1 volume(s) notes, 1 container(s) keeper");

    daemonB = new NodeDaemon(dirB);
    await daemonB.start();
    const images = await daemonB.docker(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    expect(images.stdout).toContain(busybox.reference.replace(/:[^:/]*$/, ""));
    expect((await daemonB.docker(["volume", "ls", "--format", "{{.Name}}"])).stdout.split("\n")).toContain("notes");
    const listed = await daemonB.docker(["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    expect(listed.stdout.trim()).toBe("keeper exited");
    const read = await daemonB.docker(["run", "--rm", "-v", "notes:/notes", busybox.reference, "cat", "/notes/hi.txt"]);
    expect(read).toMatchObject({ code: 0, stdout: "hello from A\n" });
    const started = await daemonB.docker(["start", "-a", "keeper"]);
    expect(started).toMatchObject({ code: 0, stdout: "made in A\n" });
  });
});
