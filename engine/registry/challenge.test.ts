import { describe, expect, it } from "vitest";
import { parseChallenges } from "./challenge.ts";

describe("parseChallenges", () => {
  it.each([
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      [
        {
          scheme: "bearer",
          parameters: {
            realm: "https://auth.docker.io/token",
            service: "registry.docker.io",
            scope: "repository:library/alpine:pull",
          },
        },
      ],
    ],
    ['Basic realm="drydock-test"', [{ scheme: "basic", parameters: { realm: "drydock-test" } }]],
    [
      'Basic realm="a, b", Bearer realm="https://x/token", error="insufficient_scope"',
      [
        { scheme: "basic", parameters: { realm: "a, b" } },
        { scheme: "bearer", parameters: { realm: "https://x/token", error: "insufficient_scope" } },
      ],
    ],
    ['bearer realm = "r\\"q" , service=plain', [{ scheme: "bearer", parameters: { realm: 'r"q', service: "plain" } }]],
    ["Negotiate", [{ scheme: "negotiate", parameters: {} }]],
    ["", []],
  ])("%s", (header, expected) => {
    expect(parseChallenges(header)).toEqual(expected);
  });
});
