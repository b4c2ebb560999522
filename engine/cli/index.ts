// engine/cli: a `docker` command line over the Engine API. It needs no DOM and no Node: where it runs hands it a
// CliIO (stdio, terminal, environment) and a way to reach an API (io.ts). Verbs live one per file; this file holds
// the global flags, the verb table, dispatch and the mapping of failures to messages and exit codes.
import { build } from "./build.ts";
import { DockerClient } from "./client.ts";
import { argsError, groupHelp, rootHelp, type Verb, type VerbContext, type VerbGroup, verbHelp } from "./command.ts";
import { commit } from "./commit.ts";
import { containerPrune } from "./container-prune.ts";
import {
  contextCreate,
  contextInspect,
  contextLs,
  contextRm,
  contextShow,
  contextUse,
  resolveHost,
} from "./contexts.ts";
import { cp, exportVerb } from "./cp.ts";
import { create } from "./create.ts";
import { diff } from "./diff.ts";
import { describeFailure } from "./errors.ts";
import { events } from "./events.ts";
import { exec } from "./exec.ts";
import { FlagError, type FlagSpec, parseFlags } from "./flags.ts";
import { history } from "./history.ts";
import { imagePrune } from "./image-prune.ts";
import { images } from "./images.ts";
import { info } from "./info.ts";
import { containerInspect, imageInspect, inspect } from "./inspect.ts";
import type { ApiConnector, ApiTransport, CliIO } from "./io.ts";
import { kill } from "./kill.ts";
import { login, logout } from "./login.ts";
import { logs } from "./logs.ts";
import { networkConnect, networkDisconnect } from "./network-connect.ts";
import { networkCreate } from "./network-create.ts";
import { networkInspect } from "./network-inspect.ts";
import { networkLs } from "./network-ls.ts";
import { networkPrune } from "./network-prune.ts";
import { networkRm } from "./network-rm.ts";
import { nodeInspect, nodeLs, nodeRm, nodeUpdate } from "./node.ts";
import { Output } from "./output.ts";
import { pause } from "./pause.ts";
import { port } from "./port.ts";
import { ps } from "./ps.ts";
import { pull } from "./pull.ts";
import { push } from "./push.ts";
import { restart } from "./restart.ts";
import { rm } from "./rm.ts";
import { rmi } from "./rmi.ts";
import { run } from "./run.ts";
import { load, save } from "./save.ts";
import {
  serviceCreate,
  serviceInspect,
  serviceLogs,
  serviceLs,
  servicePs,
  serviceRm,
  serviceScale,
  serviceUpdate,
} from "./service.ts";
import { start } from "./start.ts";
import { stats } from "./stats.ts";
import { stop } from "./stop.ts";
import { swarmInit, swarmJoin, swarmJoinToken, swarmLeave } from "./swarm.ts";
import { systemDf } from "./system-df.ts";
import { systemPrune } from "./system-prune.ts";
import { tag } from "./tag.ts";
import { top } from "./top.ts";
import { unpause } from "./unpause.ts";
import { CLIENT_VERSION, version } from "./version.ts";
import { volumeCreate } from "./volume-create.ts";
import { volumeInspect } from "./volume-inspect.ts";
import { volumeLs } from "./volume-ls.ts";
import { volumePrune } from "./volume-prune.ts";
import { volumeRm } from "./volume-rm.ts";
import { wait } from "./wait.ts";

export {
  allContexts,
  type ContextRecord,
  type ContextStore,
  DEFAULT_CONTEXT,
  MemoryContextStore,
  resolveHost,
} from "./contexts.ts";
export type { ApiConnector, ApiTransport, CliIO, HostFiles } from "./io.ts";

/** The docker default when nothing names a daemon. */
export const DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock";

const GLOBAL_FLAGS = [
  { name: "config", type: "string", help: "Location of client config files" },
  {
    name: "context",
    short: "c",
    type: "string",
    help: 'Name of the context to use to connect to the daemon (overrides DOCKER_HOST env var and default context set with "docker context use")',
  },
  { name: "debug", short: "D", type: "bool", help: "Enable debug mode" },
  { name: "host", short: "H", type: "list", help: "Daemon socket(s) to connect to" },
  {
    name: "log-level",
    short: "l",
    type: "string",
    default: "info",
    help: 'Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")',
  },
  { name: "version", short: "v", type: "bool", help: "Print version information and quit" },
  { name: "help", short: "h", type: "bool", help: "Print usage", hidden: true },
] as const satisfies readonly FlagSpec[];

/** Every top-level verb, in no particular order (help sorts them). */
export const VERBS: Verb[] = [
  run,
  create,
  start,
  stop,
  kill,
  restart,
  pause,
  unpause,
  rm,
  ps,
  logs,
  exec,
  inspect,
  top,
  diff,
  stats,
  wait,
  pull,
  push,
  cp,
  exportVerb,
  save,
  load,
  login,
  logout,
  images,
  rmi,
  tag,
  history,
  build,
  commit,
  info,
  version,
  events,
  port,
];

/** docker's own verbs that Drydock has not built yet: named as such, not as unknown commands. */
const NOT_YET = new Set(["attach", "import", "rename", "search", "update", "compose", "buildx"]);

/** `docker <group> <verb>`: docker's management commands, each verb under the name it has there. */
export const GROUPS: VerbGroup[] = [
  {
    name: "container",
    summary: "Manage containers",
    commands: [
      ["commit", commit],
      ["cp", cp],
      ["create", create],
      ["diff", diff],
      ["exec", exec],
      ["export", exportVerb],
      ["inspect", containerInspect],
      ["kill", kill],
      ["logs", logs],
      ["ls", ps],
      ["pause", pause],
      ["port", port],
      ["prune", containerPrune],
      ["restart", restart],
      ["rm", rm],
      ["run", run],
      ["start", start],
      ["stats", stats],
      ["stop", stop],
      ["top", top],
      ["unpause", unpause],
      ["wait", wait],
    ],
  },
  {
    name: "context",
    summary: "Manage contexts",
    commands: [
      ["create", contextCreate],
      ["inspect", contextInspect],
      ["ls", contextLs],
      ["rm", contextRm],
      ["show", contextShow],
      ["use", contextUse],
    ],
  },
  {
    name: "image",
    summary: "Manage images",
    commands: [
      ["build", build],
      ["history", history],
      ["inspect", imageInspect],
      ["load", load],
      ["ls", images],
      ["prune", imagePrune],
      ["pull", pull],
      ["push", push],
      ["rm", rmi],
      ["save", save],
      ["tag", tag],
    ],
  },
  {
    name: "network",
    summary: "Manage networks",
    commands: [
      ["connect", networkConnect],
      ["create", networkCreate],
      ["disconnect", networkDisconnect],
      ["inspect", networkInspect],
      ["ls", networkLs],
      ["prune", networkPrune],
      ["rm", networkRm],
    ],
  },
  {
    name: "node",
    summary: "Manage Swarm nodes",
    commands: [
      ["inspect", nodeInspect],
      ["ls", nodeLs],
      ["rm", nodeRm],
      ["update", nodeUpdate],
    ],
  },
  {
    name: "service",
    summary: "Manage Swarm services",
    commands: [
      ["create", serviceCreate],
      ["inspect", serviceInspect],
      ["logs", serviceLogs],
      ["ls", serviceLs],
      ["ps", servicePs],
      ["rm", serviceRm],
      ["scale", serviceScale],
      ["update", serviceUpdate],
    ],
  },
  {
    name: "swarm",
    summary: "Manage Swarm",
    commands: [
      ["init", swarmInit],
      ["join", swarmJoin],
      ["join-token", swarmJoinToken],
      ["leave", swarmLeave],
    ],
  },
  {
    name: "system",
    summary: "Manage Docker",
    commands: [
      ["df", systemDf],
      ["events", events],
      ["info", info],
      ["prune", systemPrune],
    ],
  },
  {
    name: "volume",
    summary: "Manage volumes",
    commands: [
      ["create", volumeCreate],
      ["inspect", volumeInspect],
      ["ls", volumeLs],
      ["prune", volumePrune],
      ["rm", volumeRm],
    ],
  },
];

/** Aliases docker keeps inside groups (`container list`, `image list`). */
const GROUP_ALIASES: Record<string, Record<string, string>> = {
  container: { list: "ls", ps: "ls", remove: "rm" },
  image: { list: "ls", remove: "rm", rmi: "rm" },
  volume: { list: "ls", remove: "rm" },
  network: { list: "ls", remove: "rm" },
  context: { list: "ls", remove: "rm" },
  node: { list: "ls", remove: "rm" },
  service: { list: "ls", remove: "rm" },
};

/**
 * Where to send the API's requests. A fixed transport (the guest without nodes) is the one daemon whatever is named;
 * a connector dials the daemon `--context`, `-H`, DOCKER_HOST, DOCKER_CONTEXT or the current context names.
 */
function resolveTransport(
  api: ApiTransport | ApiConnector,
  context: string | undefined,
  hosts: string[],
  env: Record<string, string>,
) {
  if (typeof api === "function") return { host: hosts[0] ?? env.DOCKER_HOST ?? "the Drydock engine", transport: api };
  const { host } = resolveHost({ context, hosts, env, store: api.contexts, defaultHost: api.defaultHost });
  return { host, transport: api.connect(host) };
}

interface Target {
  verb: Verb;
  commandPath: string;
  argv: string[];
}

/**
 * Runs one `docker …` command line and resolves with its exit code; all output goes through `io`. `api` is either a
 * fixed transport (the guest, the page) or a connector that dials the daemon `-H` / `DOCKER_HOST` names.
 * @example
 * const code = await runCli(["run", "--rm", "busybox", "echo", "hi"], io, transport);
 */
export async function runCli(argv: string[], io: CliIO, api: ApiTransport | ApiConnector): Promise<number> {
  const out = new Output(io.stdout, io.isTTY.stdout);
  const err = new Output(io.stderr, false);
  try {
    return await dispatch(argv, io, api, out, err);
  } finally {
    out.release();
    err.release();
  }
}

async function dispatch(
  argv: string[],
  io: CliIO,
  api: ApiTransport | ApiConnector,
  out: Output,
  err: Output,
): Promise<number> {
  const columns = io.size()?.cols ?? 80;
  let global: ReturnType<typeof parseFlags>;
  try {
    global = parseFlags(GLOBAL_FLAGS, argv, false);
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    await err.line(`${error.message}\nSee 'docker --help'.`);
    return 125;
  }
  if (global.values.version) {
    await out.line(`Docker version ${CLIENT_VERSION}, build drydock`);
    return 0;
  }
  const [name, ...rest] = global.args;
  if (name === undefined || global.values.help || name === "help") {
    const topic = name === "help" ? rest : [];
    if (topic.length > 0) return dispatch([...topic, "--help"], io, api, out, err);
    await out.write(rootHelp(GLOBAL_FLAGS, VERBS, GROUPS, columns));
    return 0;
  }

  let target: Target | undefined;
  const group = GROUPS.find((candidate) => candidate.name === name);
  if (group) {
    const [sub, ...subArgs] = rest;
    if (sub === undefined || sub === "--help" || sub === "-h") {
      await out.write(groupHelp(group));
      return 0;
    }
    const subName = GROUP_ALIASES[group.name]?.[sub] ?? sub;
    const found = group.commands.find(([commandName]) => commandName === subName);
    if (!found) {
      await err.line(`docker: '${group.name} ${sub}' is not a docker command.\nSee 'docker ${group.name} --help'`);
      return 1;
    }
    target = { verb: found[1], commandPath: `docker ${group.name} ${subName}`, argv: subArgs };
  } else {
    const verb = VERBS.find((candidate) => candidate.descriptor.name === name);
    if (!verb && NOT_YET.has(name)) {
      // A learner following a Docker tutorial should learn that the command exists, just not here.
      await err.line(
        `docker: '${name}' is a docker command that Drydock does not have yet.\nSee 'docker --help' for the ones it has.`,
      );
      return 1;
    }
    if (!verb) {
      await err.line(`docker: '${name}' is not a docker command.\nSee 'docker --help'`);
      return 1;
    }
    target = { verb, commandPath: `docker ${name}`, argv: rest };
  }

  const { descriptor } = target.verb;
  const specs: FlagSpec[] = [...descriptor.flags];
  if (!specs.some((spec) => spec.name === "help")) {
    const shortTaken = specs.some((spec) => spec.short === "h");
    specs.push({
      name: "help",
      ...(shortTaken ? {} : { short: "h" }),
      type: "bool",
      help: "Print usage",
      hidden: true,
    });
  }
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(specs, target.argv, descriptor.interspersed !== false);
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    await err.line(`${error.message}\nSee '${target.commandPath} --help'.`);
    return 125;
  }
  if (parsed.values.help) {
    await out.write(verbHelp(target.commandPath, descriptor, columns));
    return 0;
  }
  const problem = argsError(target.commandPath, descriptor, parsed.args.length);
  if (problem) {
    await err.line(problem);
    return 1;
  }

  const hosts = global.values.host as string[];
  const contextName = (global.values.context as string | undefined) || undefined;
  let client: Promise<DockerClient> | undefined;
  const context: VerbContext = {
    flags: parsed.values as VerbContext["flags"],
    changed: parsed.changed,
    args: parsed.args,
    io,
    out,
    err,
    commandPath: target.commandPath,
    contexts: typeof api === "function" ? undefined : api.contexts,
    defaultHost: typeof api === "function" ? DEFAULT_DOCKER_HOST : api.defaultHost,
    client: () => {
      client ??= Promise.resolve().then(() => {
        const { host, transport } = resolveTransport(api, contextName, hosts, io.env);
        return DockerClient.connect(transport, host, io.env);
      });
      return client;
    },
  };
  try {
    return (await target.verb.run(context)) ?? 0;
  } catch (error) {
    if (error instanceof FlagError) {
      await err.line(`${error.message}\nSee '${target.commandPath} --help'.`);
      return 125;
    }
    const { message, status } = describeFailure(error);
    // Nowhere to say it (stderr is gone too): the exit code is all that is left.
    if (message) await err.line(message).catch(() => {});
    return status;
  }
}
