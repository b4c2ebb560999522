import { packTar } from "modern-tar";
import { describe, expect, it } from "vitest";
import { dockerignore, readBuildContext } from "./context.ts";
import { contextTree, planCopy } from "./files.ts";

const file = (name: string, body: string) => ({ header: { name, size: body.length, mode: 0o644 }, body });

describe(".dockerignore", () => {
  it("matches as Docker does: globs, directories with all under them, ! exceptions, the last line winning", () => {
    const ignored = dockerignore("# comment\n*.log\n!keep.log\nnode_modules\n**/tmp\n");
    expect(ignored("a.log")).toBe(true);
    expect(ignored("keep.log")).toBe(false);
    expect(ignored("sub/a.log")).toBe(false);
    expect(ignored("node_modules/x/y.js")).toBe(true);
    expect(ignored("deep/er/tmp/file")).toBe(true);
    expect(ignored("src/main.c")).toBe(false);
  });

  it("leaves ignored files out of the context, but never the Dockerfile or .dockerignore", async () => {
    const tar = await packTar([
      file("Dockerfile", "FROM busybox\n"),
      file(".dockerignore", "secret\nDockerfile\n"),
      file("secret", "s"),
      file("src/a.c", "int main;"),
    ]);
    const context = await readBuildContext(tar);
    expect([...context.entries.keys()].sort()).toEqual([".dockerignore", "Dockerfile", "src", "src/a.c"]);
  });
});

describe("planCopy", () => {
  it("places files, directory contents and globs as COPY does", async () => {
    const tree = contextTree(
      await readBuildContext(
        await packTar([file("a.txt", "a"), file("b.txt", "b"), file("dir/c", "c"), file("dir/sub/d", "d")]),
      ),
    );
    const targets = (sources: string[], dest: string) =>
      planCopy(tree, sources, dest)
        .map((p) => p.target)
        .sort();
    expect(targets(["a.txt"], "/x")).toEqual(["x"]);
    expect(targets(["a.txt"], "/x/")).toEqual(["x/a.txt"]);
    expect(targets(["*.txt"], "/x/")).toEqual(["x/a.txt", "x/b.txt"]);
    expect(targets(["dir"], "/y")).toEqual(["y/c", "y/sub", "y/sub/d"]);
    expect(() => planCopy(tree, ["missing"], "/x")).toThrow(
      "COPY failed: file not found in build context: stat missing: file does not exist",
    );
    expect(() => planCopy(tree, ["*.txt"], "/x")).toThrow("the destination must be a directory and end with a /");
  });
});
