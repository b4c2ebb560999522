// `app.fetch` must stay deployable to edge runtimes, which have no Node built-ins. TypeScript cannot catch a slip
// (this folder is checked with Node's types, for its Node entry points), so this walks what index.ts imports.
import { readFile } from "node:fs/promises";
import { dirname, join, normalize } from "node:path";
import { describe, expect, it } from "vitest";

const here = dirname(new URL(import.meta.url).pathname);

async function importGraph(entry: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const visit = async (file: string) => {
    if (files.has(file)) return;
    const source = await readFile(join(here, file), "utf8");
    files.set(file, source);
    // Relative imports are followed, those that leave the folder too (the shared WWW-Authenticate parser).
    for (const m of source.matchAll(/^(?:import|export)\s[^;]*?from\s+"(\.\.?\/[^"]+)"/gms)) {
      await visit(normalize(join(dirname(file), m[1]!)));
    }
  };
  await visit(entry);
  return files;
}

describe("the edge-deployable part", () => {
  it("uses no Node-only modules or globals", async () => {
    const files = await importGraph("index.ts");
    expect([...files.keys()].sort()).toEqual([
      "../../engine/registry/challenge.ts",
      "address.ts",
      "app.ts",
      "cache.ts",
      "index.ts",
      "names.ts",
      "push.ts",
      "rate-limit.ts",
      "rewrite.ts",
      "upstream.ts",
    ]);
    for (const [file, source] of files) {
      const code = source.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "");
      const imports = [...code.matchAll(/from\s+"([^"]+)"/g)].map((m) => m[1]!);
      expect(
        imports.filter((i) => !i.startsWith(".") && i !== "hono" && !i.startsWith("hono/")),
        file,
      ).toEqual([]);
      expect(code, file).not.toMatch(/\b(?:Buffer|process|require|__dirname)\b/);
    }
  });
});
