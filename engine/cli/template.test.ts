import { describe, expect, it } from "vitest";
import { goStruct, parseTemplate, TemplateError } from "./template.ts";

const inspect = {
  Id: "abc",
  State: { Status: "running", Pid: 42, Running: true },
  Config: { Env: ["PATH=/bin", "HOME=/root"], Labels: { tier: "web", a: "1" }, Cmd: ["sh", "-c", "x"] },
};

describe("--format templates", () => {
  it("fields, nested fields, Go's printing of lists and maps", () => {
    expect(parseTemplate("{{.State.Status}} {{.State.Pid}}").execute(inspect)).toBe("running 42");
    expect(parseTemplate("{{.Config.Env}}").execute(inspect)).toBe("[PATH=/bin HOME=/root]");
    expect(parseTemplate("{{.Config.Labels}}").execute(inspect)).toBe("map[a:1 tier:web]");
    expect(parseTemplate("{{.Nope}}").execute(inspect)).toBe("<no value>");
  });

  it("docker's functions: json, index, join, lower/upper, pad, truncate, split", () => {
    expect(parseTemplate("{{json .Config.Cmd}}").execute(inspect)).toBe('["sh","-c","x"]');
    expect(parseTemplate('{{index .Config.Labels "tier"}}').execute(inspect)).toBe("web");
    expect(parseTemplate('{{join .Config.Env ","}}').execute(inspect)).toBe("PATH=/bin,HOME=/root");
    expect(parseTemplate("{{upper .State.Status}}|{{.State.Status | lower}}").execute(inspect)).toBe("RUNNING|running");
    expect(parseTemplate("[{{pad .Id 1 2}}]{{truncate .State.Status 3}}").execute(inspect)).toBe("[ abc  ]run");
    expect(parseTemplate('{{index (split "a:b" ":") 1}}').execute({})).toBe("b");
  });

  it("if/else, range with variables, with, trim markers", () => {
    expect(parseTemplate("{{if .State.Running}}up{{else}}down{{end}}").execute(inspect)).toBe("up");
    expect(parseTemplate("{{range .Config.Env}}<{{.}}>{{end}}").execute(inspect)).toBe("<PATH=/bin><HOME=/root>");
    expect(parseTemplate("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}").execute(inspect)).toBe(
      "a=1;tier=web;",
    );
    expect(parseTemplate("{{with .State}}{{.Status}}{{end}}").execute(inspect)).toBe("running");
    expect(parseTemplate("a  {{- .Id -}}  b").execute(inspect)).toBe("aabcb");
    expect(parseTemplate('{{if eq .State.Status "running" "paused"}}live{{end}}').execute(inspect)).toBe("live");
  });

  it("an unknown function is refused when parsing; a struct's unknown field when executing", () => {
    expect(() => parseTemplate("{{nosuch .Id}}")).toThrow('function "nosuch" not defined');
    const row = goStruct("*formatter.ContainerContext", { ID: "abc" });
    expect(() => parseTemplate("{{.Nope}}").execute(row)).toThrow(TemplateError);
    expect(() => parseTemplate("{{.Nope}}").execute(row)).toThrow(
      "can't evaluate field Nope in type *formatter.ContainerContext",
    );
  });

  it("a table header row gives back the titles, even through json or lower", () => {
    const template = parseTemplate("{{.ID}}\t{{json .Names}}\t{{lower .Image}}");
    expect(template.executeHeader({ ID: "CONTAINER ID", Names: "NAMES", Image: "IMAGE" })).toBe(
      "CONTAINER ID\tNAMES\tIMAGE",
    );
  });
});
