import { cp, mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GUEST_DIST_DIR, loadGuestArtifacts } from "./guest.ts";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "drydock-guest-"));
  await cp(GUEST_DIST_DIR, dir, { recursive: true });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("loadGuestArtifacts", () => {
  it("loads and verifies the committed guest", async () => {
    const artifacts = await loadGuestArtifacts(dir);
    expect(artifacts.bzImage.length).toBeGreaterThan(1_000_000);
    expect(artifacts.cmdline).toContain("console=ttyS0");
  });

  it("names a missing kernel and says how to rebuild it", async () => {
    await rm(join(dir, "bzImage"));
    await expect(loadGuestArtifacts(dir)).rejects.toThrow(/bzImage is missing: run `npm run build:vm`/);
  });

  it("names a truncated BIOS as corrupt", async () => {
    await truncate(join(dir, "seabios.bin"), 1000);
    await expect(loadGuestArtifacts(dir)).rejects.toMatchObject({
      kind: "dataLoss",
      message: expect.stringMatching(/seabios\.bin is corrupt: 1000 bytes, expected \d+; run `npm run build:vm`/),
    });
  });

  it("names a kernel whose bytes changed as corrupt", async () => {
    const { readFile } = await import("node:fs/promises");
    const bytes = await readFile(join(dir, "bzImage"));
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    await writeFile(join(dir, "bzImage"), bytes);
    await expect(loadGuestArtifacts(dir)).rejects.toThrow(/bzImage is corrupt: sha256 .* run `npm run build:vm`/);
  });

  it("names a missing manifest", async () => {
    await rm(join(dir, "manifest.json"));
    await expect(loadGuestArtifacts(dir)).rejects.toThrow(/manifest\.json is missing: run `npm run build:vm`/);
  });
});
