import { describe, expect, it } from "vitest";
import { parseMountOption } from "./mount-option.ts";

describe("--mount", () => {
  it("reads docker's fields and aliases", () => {
    expect(parseMountOption("type=volume,src=data,dst=/data,readonly")).toEqual({
      Type: "volume",
      Source: "data",
      Target: "/data",
      ReadOnly: true,
    });
    expect(parseMountOption("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770")).toEqual({
      Type: "tmpfs",
      Target: "/t",
      TmpfsOptions: { SizeBytes: 1048576, Mode: 0o1770 },
    });
    expect(parseMountOption("source=v,target=/v,volume-nocopy")).toMatchObject({ VolumeOptions: { NoCopy: true } });
  });

  it("refuses what docker refuses, naming the flag", () => {
    expect(() => parseMountOption("type=volume,src=data")).toThrow(
      'invalid argument "type=volume,src=data" for "--mount" flag: target is required',
    );
    expect(() => parseMountOption("target=/x,colour=red")).toThrow(/unexpected key 'colour'/);
  });
});
