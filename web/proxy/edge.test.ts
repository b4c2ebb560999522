// `app.fetch` must stay deployable to edge runtimes, which have no Node built-ins. TypeScript cannot catch a slip
// (this folder is checked with Node's types, for its Node entry points), so this walks what index.ts imports.
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";

const here = dirname(new URL(import.meta.url).pathname);

async function importGraph(entry: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const visit = async (file: string) => {
    if (files.has(file)) return;
    const source = await readFile(join(here, file), "utf8");
    files.set(file, source);
    for (const m of source.matchAll(/^(?:import|export)\s[^;]*?from\s+"(\.\/[^"]+)"/gms)) await visit(m[1]!.slice(2));
  };
  await visit(entry);
  return files;
}

describe("the edge-deployable part", () => {
  it("uses no Node-only modules or globals", async () => {
    const files = await importGraph("index.ts");
    expect([...files.keys()].sort()).toEqual([
      "address.ts",
      "app.ts",
      "cache.ts",
      "index.ts",
      "names.ts",
      "rate-limit.ts",
      "rewrite.ts",
      "upstream.ts",
    ]);
    for (const [file, source] of files) {
      const code = source.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "");
      const imports = [...code.matchAll(/from\s+"([^"]+)"/g)].map((m) => m[1]!);
      expect(
        imports.filter((i) => !i.startsWith("./") && i !== "hono" && !i.startsWith("hono/")),
        file,
      ).toEqual([]);
      expect(code, file).not.toMatch(/\b(?:Buffer|process|require|__dirname)\b/);
    }
  });
});
