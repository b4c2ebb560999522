import { describe, expect, it } from "vitest";
import { FlagError, type FlagSpec, flagUsages, parseFlags } from "./flags.ts";

const SPECS: FlagSpec[] = [
  { name: "all", short: "a", type: "bool", help: "Show all containers (default shows just running)" },
  { name: "env", short: "e", type: "list", help: "Set environment variables" },
  { name: "time", short: "t", type: "int", default: 10, help: "Seconds to wait" },
  { name: "name", type: "string", help: "Assign a name to the container" },
  { name: "interactive", short: "i", type: "bool", help: "Keep STDIN open" },
];

describe("pflag-style parsing", () => {
  it("long, short, combined, attached and = forms", () => {
    const parsed = parseFlags(SPECS, ["-ai", "--name=web", "-eA=1", "-e", "B=2", "-t5", "x", "--all=false"]);
    expect(parsed.values).toEqual({ all: false, env: ["A=1", "B=2"], time: 5, name: "web", interactive: true });
    expect(parsed.args).toEqual(["x"]);
    expect([...parsed.changed].sort()).toEqual(["all", "env", "interactive", "name", "time"]);
  });

  it("defaults, and the first argument ends the flags when not interspersed", () => {
    const parsed = parseFlags(SPECS, ["-i", "busybox", "ls", "-a"], false);
    expect(parsed.values.time).toBe(10);
    expect(parsed.values.all).toBe(false);
    expect(parsed.args).toEqual(["busybox", "ls", "-a"]);
    expect(parseFlags(SPECS, ["--", "-a"]).args).toEqual(["-a"]);
  });

  it("docker's messages for bad flags", () => {
    expect(() => parseFlags(SPECS, ["--foo"])).toThrow(new FlagError("unknown flag: --foo"));
    expect(() => parseFlags(SPECS, ["-x"])).toThrow("unknown shorthand flag: 'x' in -x");
    expect(() => parseFlags(SPECS, ["--name"])).toThrow("flag needs an argument: --name");
    expect(() => parseFlags(SPECS, ["-t", "soon"])).toThrow(
      'invalid argument "soon" for "-t, --time" flag: strconv.ParseInt: parsing "soon": invalid syntax',
    );
  });

  it("the Options block: sorted, aligned after the widest flag, defaults shown, wrapped at the width", () => {
    expect(flagUsages(SPECS, 80)).toBe(
      [
        "  -a, --all           Show all containers (default shows just running)",
        "  -e, --env list      Set environment variables",
        "  -i, --interactive   Keep STDIN open",
        "      --name string   Assign a name to the container",
        "  -t, --time int      Seconds to wait (default 10)",
        "",
      ].join("\n"),
    );
    const narrow = flagUsages([SPECS[0]!], 50);
    // pflag: the text starts at column 14, wraps 5 short of the 49 columns it may use, at the last space before.
    expect(narrow).toBe("  -a, --all   Show all containers (default\n              shows just running)\n");
  });
});
