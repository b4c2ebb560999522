// One WWW-Authenticate parser for the engine's registry client and the registry proxy.
import { describe, expect, it } from "vitest";
import { challengeParam, formatChallenges, isScheme, parseChallenges } from "./challenge.ts";

describe("parseChallenges", () => {
  it("reads Docker Hub's challenge", () => {
    const [c] = parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
    );
    expect(c).toEqual({
      scheme: "Bearer",
      params: [
        ["realm", "https://auth.docker.io/token"],
        ["service", "registry.docker.io"],
        ["scope", "repository:library/alpine:pull"],
      ],
    });
  });

  it("reads several challenges, unquoted values, escapes and odd spacing", () => {
    const challenges = parseChallenges(
      'Basic realm="a \\"b\\"" , Bearer  realm=https://x/t, error="insufficient_scope"',
    );
    expect(challenges.map((c) => c.scheme)).toEqual(["Basic", "Bearer"]);
    expect(challenges[0]!.params).toEqual([["realm", 'a "b"']]);
    expect(challenges[1]!.params).toEqual([
      ["realm", "https://x/t"],
      ["error", "insufficient_scope"],
    ]);
  });

  it("keeps token68 challenges and survives garbage", () => {
    expect(parseChallenges("Negotiate abc==, Basic")).toEqual([
      { scheme: "Negotiate", params: [], token68: "abc==" },
      { scheme: "Basic", params: [] },
    ]);
    expect(parseChallenges('Bearer realm="unterminated')).toEqual([{ scheme: "Bearer", params: [] }]);
    expect(parseChallenges("")).toEqual([]);
  });

  it("round-trips through formatChallenges", () => {
    const header = 'Bearer realm="https://r/t",service="s", Basic realm="x\\"y"';
    expect(formatChallenges(parseChallenges(header))).toBe(header);
  });
  it("reads what the engine's registry client met: spaces around =, a scheme in any case, a bare scheme", () => {
    const [bearer] = parseChallenges('bearer realm = "r\\"q" , service=plain');
    expect(isScheme(bearer!, "Bearer")).toBe(true);
    expect(challengeParam(bearer!, "realm")).toBe('r"q');
    expect(challengeParam(bearer!, "service")).toBe("plain");
    expect(parseChallenges("Negotiate")).toEqual([{ scheme: "Negotiate", params: [] }]);
    const [basic, second] = parseChallenges(
      'Basic realm="a, b", Bearer realm="https://x/token", error="insufficient_scope"',
    );
    expect(challengeParam(basic!, "realm")).toBe("a, b");
    expect(challengeParam(second!, "error")).toBe("insufficient_scope");
  });
});
