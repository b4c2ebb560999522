import { describe, expect, it } from "vitest";
import { JsonMessageError, JsonMessageRenderer } from "./jsonmessage.ts";

const PULL = [
  { status: "Pulling from busybox", id: "latest" },
  { status: "Pulling fs layer", progressDetail: {}, id: "e8e4" },
  { status: "Downloading", progressDetail: { current: 1000, total: 2000 }, progress: "[==>  ] 1kB/2kB", id: "e8e4" },
  { status: "Pull complete", progressDetail: {}, id: "e8e4" },
  { status: "Digest: sha256:79" },
];

describe("pull progress as docker shows it", () => {
  it("without a terminal: a line per status, no progress bars", () => {
    const renderer = new JsonMessageRenderer(false);
    expect(PULL.map((message) => renderer.render(message)).join("")).toBe(
      "latest: Pulling from busybox\ne8e4: Pulling fs layer\ne8e4: Pull complete\nDigest: sha256:79\n",
    );
  });

  it("on a terminal: each layer keeps its line, redrawn with cursor moves and a bar", () => {
    const renderer = new JsonMessageRenderer(true, 120);
    const [, waiting, downloading, complete] = PULL.map((message) => renderer.render(message));
    expect(waiting).toBe("\n\x1b[1A\x1b[2K\re8e4: Pulling fs layer \r\x1b[1B");
    expect(downloading).toBe(
      `\x1b[1A\x1b[2K\re8e4: Downloading [${"=".repeat(25)}>${" ".repeat(25)}]      1kB/2kB\r\x1b[1B`,
    );
    expect(complete).toBe("\x1b[1A\x1b[2K\re8e4: Pull complete \r\x1b[1B");
  });

  it("an error line fails the pull with its message", () => {
    expect(() =>
      new JsonMessageRenderer(false).render({
        error: "manifest unknown",
        errorDetail: { message: "manifest unknown" },
      }),
    ).toThrow(JsonMessageError);
  });
});
