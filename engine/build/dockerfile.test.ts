// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are Dockerfile text, whose variables look like a template's
import { describe, expect, it } from "vitest";
import { isEngineError } from "../errors.ts";
import { expandVariables, parseDockerfile, splitWords } from "./dockerfile.ts";

describe("parseDockerfile", () => {
  it("reads stages, flags, properties, exec forms and joined continuation lines", () => {
    const { metaArgs, stages } = parseDockerfile(
      [
        "ARG BASE=busybox",
        "FROM --platform=linux/386 ${BASE} AS Build",
        'ENV A=1 B="two words"',
        "RUN echo one && \\",
        "    echo two",
        'CMD ["echo", "exec form"]',
        "FROM busybox",
        "COPY --from=build --chown=1:2 /a /b",
        "",
      ].join("\n"),
    );
    expect(metaArgs.map((step) => step.properties)).toEqual([[["BASE", "busybox"]]]);
    expect(stages).toHaveLength(2);
    expect(stages[0]).toMatchObject({ base: "${BASE}", name: "build", platform: "linux/386" });
    const [env, run, cmd] = stages[0]!.steps;
    expect(env?.properties).toEqual([
      ["A", "1"],
      ["B", "two words"],
    ]);
    expect(run?.content).toBe("echo one &&     echo two");
    expect(cmd?.json).toEqual(["echo", "exec form"]);
    const copy = stages[1]!.steps[0]!;
    expect(copy.flags.get("from")).toBe("build");
    expect(copy.flags.get("chown")).toBe("1:2");
    expect(copy.text).toBe("COPY --from=build --chown=1:2 /a /b");
  });

  it("keeps a heredoc's lines", () => {
    const { stages } = parseDockerfile("FROM busybox\nRUN <<EOF\necho a\necho b\nEOF\n");
    expect(stages[0]!.steps[0]!.raw).toBe("<<EOF\necho a\necho b\nEOF");
  });

  it("refuses what Docker refuses, naming the line", () => {
    const failure = (text: string) => {
      try {
        parseDockerfile(text);
      } catch (error) {
        if (isEngineError(error, "invalidArgument")) return error.message;
      }
      return "no error";
    };
    expect(failure("RUN echo\n")).toBe("Dockerfile parse error line 1: RUN before the first FROM (only ARG may be)");
    expect(failure("FROM busybox\nFROBNICATE x\n")).toBe(
      "Dockerfile parse error line 2: unknown instruction: FROBNICATE",
    );
    expect(failure("FROM a AS x\nFROM b AS x\n")).toBe(
      'Dockerfile parse error line 2: duplicate name for build stage: "x"',
    );
    expect(failure("# nothing\n")).toBe("the Dockerfile has no FROM instruction");
  });
});

describe("expandVariables", () => {
  it("expands $X, ${X}, defaults and alternatives, and keeps an escaped dollar", () => {
    const env = { TAG: "1.36", EMPTY: "" };
    expect(expandVariables("busybox:$TAG", env)).toBe("busybox:1.36");
    expect(expandVariables("${BASE:-busybox}:${TAG}", env)).toBe("busybox:1.36");
    expect(expandVariables("${TAG:+set}${EMPTY:+never}", env)).toBe("set");
    expect(expandVariables("\\$TAG costs $$", env)).toBe("$TAG costs $$");
  });
});

describe("splitWords", () => {
  it("splits on spaces and keeps quoted words whole", () => {
    expect(splitWords(`a "b c" 'd e'  f`)).toEqual(["a", "b c", "d e", "f"]);
  });
});

describe("parseDockerfile without Node's Buffer", () => {
  it("parses in a Web Worker's scope, byte order mark included (dockerfile-ast reaches for Buffer)", () => {
    const scope = globalThis as { Buffer?: unknown };
    const saved = scope.Buffer;
    delete scope.Buffer;
    try {
      const { stages } = parseDockerfile("\uFEFFFROM busybox\nRUN echo hi\n");
      expect(stages[0]?.steps.map((step) => step.text)).toEqual(["RUN echo hi"]);
    } finally {
      scope.Buffer = saved;
    }
  });
});
