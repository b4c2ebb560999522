// What a verb is: a descriptor (name, usage, flags, help text) and a handler. The top-level command list, each
// verb's --help and the "requires at least 1 argument" messages are all generated from descriptors.
import type { DockerClient } from "./client.ts";
import type { ContextStore } from "./contexts.ts";
import { type FlagSpec, type FlagValues, flagUsages } from "./flags.ts";
import type { CliIO } from "./io.ts";
import type { Output } from "./output.ts";

/** How many arguments a verb takes once its flags are out. */
export type ArgsRule = { min?: number; max?: number };

/** A verb's self-description: enough for parsing its flags, checking its arguments and writing its help. */
export interface VerbDescriptor<F extends readonly FlagSpec[] = readonly FlagSpec[]> {
  name: string;
  /** What follows the command path on the usage line: `[OPTIONS] IMAGE [COMMAND] [ARG...]`. */
  usage: string;
  /** One line for the command list and the help. */
  summary: string;
  flags: F;
  args?: ArgsRule;
  /** false: flags end at the first argument that is not one (run, exec: the container's own flags follow). */
  interspersed?: boolean;
  /** Shown by `docker --help`; verbs only reachable through a group say false. */
  topLevel?: boolean;
}

/** What a handler gets: the parsed flags, the arguments, the API client and the terminal. */
export interface VerbContext<F extends readonly FlagSpec[] = readonly FlagSpec[]> {
  flags: FlagValues<F>;
  /** Flags given explicitly on the command line. */
  changed: Set<string>;
  args: string[];
  io: CliIO;
  out: Output;
  err: Output;
  /** The API, connected lazily on first use. */
  client(): Promise<DockerClient>;
  /** `docker run`, `docker container ls`: as messages name the command. */
  commandPath: string;
  /** Where `docker context` keeps its contexts; absent where the host keeps none. */
  contexts: ContextStore | undefined;
  /** The daemon the `default` context names (`unix:///var/run/docker.sock`). */
  defaultHost: string;
}

/** What helpers shared by several verbs may use: everything but the verb's own flags. */
export type CommonContext = Omit<VerbContext, "flags" | "changed">;

/** A verb: its descriptor and a handler that answers its exit code (0 when it returns nothing). */
export interface Verb<F extends readonly FlagSpec[] = readonly FlagSpec[]> {
  descriptor: VerbDescriptor<F>;
  run(context: VerbContext<F>): Promise<number | undefined>;
}

/**
 * Declares a verb; the `as const` flag list gives the handler typed flag values.
 * @example
 * export const pause = defineVerb(
 *   { name: "pause", usage: "CONTAINER [CONTAINER...]", summary: "Pause all processes…", flags: [] as const, args: { min: 1 } },
 *   async ({ args, client }) => { … },
 * );
 */
export function defineVerb<const F extends readonly FlagSpec[]>(
  descriptor: VerbDescriptor<F>,
  run: (context: VerbContext<F>) => Promise<number | undefined>,
): Verb {
  return { descriptor, run } as unknown as Verb;
}

/** A group of verbs reachable as `docker <group> <name>` (`docker system df`, `docker image ls` for `images`). */
export interface VerbGroup {
  name: string;
  summary: string;
  /** Each verb under the name it has in this group. */
  commands: [name: string, verb: Verb][];
}

/**
 * The usage line: `docker ps [OPTIONS]`.
 * @example
 * useLine("docker run", runDescriptor); // "docker run [OPTIONS] IMAGE [COMMAND] [ARG...]"
 */
export function useLine(commandPath: string, descriptor: VerbDescriptor): string {
  return descriptor.usage ? `${commandPath} ${descriptor.usage}` : commandPath;
}

/**
 * A verb's `--help`, laid out like docker 20.10's (cobra's usage template, pflag's option list).
 * @example
 * verbHelp("docker ps", ps.descriptor, 80); // "\nUsage:  docker ps [OPTIONS]\n\nList containers\n\nOptions:\n…"
 */
export function verbHelp(commandPath: string, descriptor: VerbDescriptor, columns: number): string {
  let text = `\nUsage:  ${useLine(commandPath, descriptor)}\n\n${descriptor.summary}\n`;
  const flags = descriptor.flags.filter((flag) => !flag.hidden);
  if (flags.length > 0) text += `\nOptions:\n${flagUsages(flags, columns)}`;
  return text;
}

/**
 * The argument-count message of docker 20.10 (cli.RequiresMinArgs and friends), or undefined when the count fits.
 * @example
 * argsError("docker run", runDescriptor, 0); // "\"docker run\" requires at least 1 argument.\nSee 'docker run --help'.…"
 */
export function argsError(commandPath: string, descriptor: VerbDescriptor, count: number): string | undefined {
  const { min, max } = descriptor.args ?? {};
  const plural = (n: number) => (n === 1 ? "argument" : "arguments");
  let problem: string | undefined;
  if (min !== undefined && max !== undefined && min === max && count !== min)
    problem = `requires exactly ${min} ${plural(min)}`;
  else if (min !== undefined && max !== undefined && (count < min || count > max))
    problem = `requires at least ${min} and at most ${max} ${plural(max)}`;
  else if (min !== undefined && count < min) problem = `requires at least ${min} ${plural(min)}`;
  else if (max === 0 && count > 0) problem = "accepts no arguments";
  else if (max !== undefined && count > max) problem = `requires at most ${max} ${plural(max)}`;
  if (!problem) return undefined;
  return `"${commandPath}" ${problem}.\nSee '${commandPath} --help'.\n\nUsage:  ${useLine(commandPath, descriptor)}\n\n${descriptor.summary}`;
}

/** cobra's rpad to the names' padding (at least 11). */
function commandList(entries: { name: string; summary: string }[]): string {
  const padding = Math.max(11, ...entries.map((entry) => entry.name.length + 1));
  return entries.map((entry) => `  ${entry.name.padEnd(padding)}${entry.summary}\n`).join("");
}

/**
 * `docker --help`: the global options, the groups and the verbs, all from descriptors.
 * @example
 * rootHelp(globalFlags, verbs, groups, 80);
 */
export function rootHelp(
  globalFlags: readonly FlagSpec[],
  verbs: Verb[],
  groups: VerbGroup[],
  columns: number,
): string {
  const management = groups.map((group) => ({ name: group.name, summary: group.summary }));
  const commands = verbs
    .filter((verb) => verb.descriptor.topLevel !== false)
    .map((verb) => ({ name: verb.descriptor.name, summary: verb.descriptor.summary }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return (
    "\nUsage:  docker [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n\n" +
    `Options:\n${flagUsages(globalFlags, columns)}\n` +
    `Management Commands:\n${commandList(management)}\n` +
    `Commands:\n${commandList(commands)}\n` +
    "Run 'docker COMMAND --help' for more information on a command.\n"
  );
}

/**
 * `docker system --help`: a group's verbs.
 * @example
 * groupHelp(systemGroup); // "\nUsage:  docker system COMMAND\n\nManage Docker\n\nCommands:\n  df …"
 */
export function groupHelp(group: VerbGroup): string {
  const commands = group.commands
    .map(([name, verb]) => ({ name, summary: verb.descriptor.summary }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return (
    `\nUsage:  docker ${group.name} COMMAND\n\n${group.summary}\n\nCommands:\n${commandList(commands)}\n` +
    `Run 'docker ${group.name} COMMAND --help' for more information on a command.\n`
  );
}
