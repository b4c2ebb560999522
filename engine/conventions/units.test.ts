import { describe, expect, it } from "vitest";
import { bytesSize, ellipsis, formatG, humanDuration, humanSize, ramInBytes, shortId } from "./units.ts";

describe("go-units as docker prints them", () => {
  it("sizes: 3 significant digits for images, Go's %g exponent past 999.5", () => {
    expect(humanSize(2_093_056, 3)).toBe("2.09MB");
    expect(humanSize(2_093_056)).toBe("2.093MB");
    expect(humanSize(0)).toBe("0B");
    expect(humanSize(999, 3)).toBe("999B");
    expect(humanSize(1000, 3)).toBe("1kB");
    expect(formatG(999.6, 3)).toBe("1e+03");
    expect(bytesSize(1_572_864)).toBe("1.5MiB");
    expect(bytesSize(64 * 1024 * 1024)).toBe("64MiB");
  });

  it("durations: the words of `docker ps`", () => {
    expect(humanDuration(400)).toBe("Less than a second");
    expect(humanDuration(1_000)).toBe("1 second");
    expect(humanDuration(3_200)).toBe("3 seconds");
    expect(humanDuration(65_000)).toBe("About a minute");
    expect(humanDuration(2 * 60_000 + 5_000)).toBe("2 minutes");
    expect(humanDuration(3_600_000)).toBe("About an hour");
    expect(humanDuration(5 * 3_600_000)).toBe("5 hours");
    expect(humanDuration(3 * 24 * 3_600_000)).toBe("3 days");
  });

  it("memory sizes, ids and ellipses", () => {
    expect(ramInBytes("64m")).toBe(64 * 1024 * 1024);
    expect(ramInBytes("1.5g")).toBe(1.5 * 1024 ** 3);
    expect(ramInBytes("12")).toBe(12);
    expect(ramInBytes("lots")).toBeUndefined();
    expect(shortId("sha256:2ced6bed8ca8aaaaaaaa")).toBe("2ced6bed8ca8");
    expect(ellipsis("sh -c echo out; echo err", 20)).toBe("sh -c echo out; ech…");
    expect(ellipsis("short", 20)).toBe("short");
  });
});
