import { describe, expect, it } from "vitest";
import { tabwrite } from "./table.ts";

describe("tabwriter with docker's settings", () => {
  it("pads each column to its widest cell plus 3 (at least 10); the last cell is not padded", () => {
    const text = "CONTAINER ID\tIMAGE\tNAMES\n84c38e09019a\t127.0.0.1:35157/busybox\tweb2\n";
    expect(tabwrite(text)).toBe(
      "CONTAINER ID   IMAGE                     NAMES\n84c38e09019a   127.0.0.1:35157/busybox   web2\n",
    );
  });

  it("a line without tabs splits the column blocks", () => {
    expect(tabwrite("a\tb\nplain line\nlonger cell\tc\n")).toBe("a         b\nplain line\nlonger cell   c\n");
  });
});
