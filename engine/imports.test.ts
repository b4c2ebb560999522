// The engine's modules import each other without a circle: a cycle (engine/api's containers.ts and system.ts had one)
// makes load order matter and a module's exports undefined while the other half loads. Type-only imports are erased
// and do not count.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { describe, expect, it } from "vitest";

const root = dirname(new URL(import.meta.url).pathname);

function modules(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return modules(path);
    return path.endsWith(".ts") && !path.endsWith(".test.ts") ? [path] : [];
  });
}

describe("the engine's import graph", () => {
  it("has no cycles", () => {
    const graph = new Map<string, string[]>();
    for (const file of modules(root)) {
      const source = readFileSync(file, "utf8");
      const imports = [...source.matchAll(/^(?:import|export)\s(?!type\b)[^;]*?from\s+"(\.\.?\/[^"]+)"/gms)];
      graph.set(
        file,
        imports.map((m) => normalize(join(dirname(file), m[1]!))),
      );
    }
    const cycles: string[] = [];
    const state = new Map<string, "visiting" | "done">();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, "visiting");
      stack.push(file);
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === "visiting") {
          cycles.push([...stack.slice(stack.indexOf(next)), next].map((f) => relative(root, f)).join(" → "));
        } else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(file, "done");
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });
});
