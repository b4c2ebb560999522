import { describe, expect, it } from "vitest";
import { checkVolumeName, parseApiMount, parseBind, parseTmpfs } from "./specs.ts";

const message = (f: () => unknown) => {
  try {
    f();
  } catch (error) {
    return (error as Error).message;
  }
  return "no error";
};

describe("mount specs as dockerd reads them", () => {
  it.each([
    ["data:/data", { type: "volume", source: "data", target: "/data", readonly: false, origin: "Binds" }],
    ["data:/data:ro", { type: "volume", source: "data", target: "/data", readonly: true }],
    ["/srv/x/:/x:ro", { type: "bind", source: "/srv/x", target: "/x", readonly: true, createSource: true }],
    ["/cache", { type: "volume", source: "", target: "/cache", origin: "Volumes" }],
    ["/cache:ro", { type: "volume", source: "", target: "/cache", readonly: true }],
    ["data:/data:nocopy", { noCopy: true }],
  ])("%s", (spec, expected) => {
    expect(parseBind(spec)).toMatchObject(expected);
  });

  it.each([
    [
      "data:rel",
      "invalid volume specification: 'data:rel': invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute",
    ],
    ["a:/b:c:d", "invalid volume specification: 'a:/b:c:d'"],
    ["data:/d:rx", "invalid volume specification: 'data:/d:rx': invalid mode: rx"],
    ["x:/d", "volume name is too short, names should be at least two alphanumeric characters"],
    ["data:/", "invalid volume specification: 'data:/': invalid specification: destination can't be '/'"],
  ])("refuses %s", (spec, expected) => {
    expect(message(() => parseBind(spec))).toBe(expected);
  });

  it("checks names as the local driver does", () => {
    expect(message(() => checkVolumeName("my-data_1.0"))).toBe("no error");
    expect(message(() => checkVolumeName("a/b"))).toMatch(/includes invalid characters for a local volume name/);
  });

  it("reads --mount objects and --tmpfs options", () => {
    expect(
      parseApiMount({ Type: "volume", Source: "d1", Target: "/d", VolumeOptions: { NoCopy: true } }),
    ).toMatchObject({ type: "volume", source: "d1", target: "/d", noCopy: true, createSource: false });
    expect(
      parseApiMount({ Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 4096, Mode: 0o700 } }),
    ).toMatchObject({ tmpfsSize: 4096, tmpfsMode: 0o700 });
    expect(message(() => parseApiMount({ Type: "bind", Source: "rel", Target: "/x" }))).toMatch(/must be absolute/);
    expect(message(() => parseApiMount({ Type: "npipe", Target: "/x" }))).toMatch(/mount type unknown/);
    expect(parseTmpfs("/run", "size=64m,mode=1777")).toMatchObject({ tmpfsSize: 64 * 1024 * 1024, tmpfsMode: 0o1777 });
    expect(message(() => parseTmpfs("/run", "size=lots"))).toMatch(/invalid tmpfs size/);
  });
});
