import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DIST_DIR, hashFile, inputFileHashes, readManifest } from "./manifest.ts";

describe("the committed guest (vm-images/dist)", () => {
  it("was built from the inputs in the tree", async () => {
    const manifest = await readManifest();
    const current = await inputFileHashes();
    const names = new Set([...Object.keys(current), ...Object.keys(manifest.inputs.files)]);
    const changed = [...names].filter((name) => current[name] !== manifest.inputs.files[name]).sort();
    expect(
      changed,
      `these guest inputs changed since vm-images/dist was built: ${changed.join(", ")}; run \`npm run build:vm\` and commit vm-images/dist`,
    ).toEqual([]);
  });

  it("has every output the manifest lists, byte for byte", async () => {
    const manifest = await readManifest();
    expect(Object.keys(manifest.outputs)).toEqual(
      expect.arrayContaining(["bzImage", "seabios.bin", "vgabios.bin", "licenses/seabios.copyright"]),
    );
    for (const [name, expected] of Object.entries(manifest.outputs)) {
      const actual = await hashFile(join(DIST_DIR, name));
      expect(actual, `vm-images/dist/${name} differs from its manifest entry; run \`npm run build:vm\``).toEqual(
        expected,
      );
    }
  });

  it("fits the size budget: bzImage and initramfs at most 4 MB each", async () => {
    const manifest = await readManifest();
    expect(manifest.outputs.bzImage?.size).toBeLessThanOrEqual(4_000_000);
    expect(manifest.embedded["initramfs.cpio"]?.size).toBeLessThanOrEqual(4_000_000);
  });

  it("records the Debian packages it was built from", async () => {
    const manifest = await readManifest();
    expect(manifest.inputs.packages.map((p) => p.name)).toEqual(["linux-source-6.1", "busybox-static:i386", "seabios"]);
    for (const p of manifest.inputs.packages) expect(p.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("records the Debian source packages it built (iptables)", async () => {
    const manifest = await readManifest();
    expect(manifest.inputs.sources.map((s) => s.name)).toEqual(["iptables"]);
    for (const s of manifest.inputs.sources) {
      expect(s.dsc).toBe(`${s.name}_${s.version.replace(/^\d+:/, "")}.dsc`);
      expect(s.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(manifest.embedded["xtables-legacy-multi"]?.size).toBeGreaterThan(0);
  });
});
