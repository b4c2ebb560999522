// `docker context`: named daemons the CLI can talk to, as docker's client keeps them (a name, a description, a Docker
// endpoint) with one current. Where they are kept is the host's business (a ContextStore: the page keeps them in its
// worker, one per node); which daemon a command reaches follows docker's order: `--context`, then `-H`, then
// DOCKER_HOST, then DOCKER_CONTEXT, then the current context, else `default` (the host's own daemon).
import { defineVerb } from "./command.ts";
import { CliError } from "./errors.ts";
import { tabwrite } from "./table.ts";

/** One context: where its daemon is. */
export interface ContextRecord {
  name: string;
  description: string;
  /** The Docker endpoint: `unix:///var/run/docker.sock`, `tcp://192.168.86.102:2375`. */
  host: string;
}

/** What the CLI asks of the place contexts are kept. The `default` context is the CLI's own, never stored. */
export interface ContextStore {
  /** The stored contexts (not `default`), in any order. */
  list(): ContextRecord[];
  /** The current context's name (`default` when none was chosen). */
  current(): string;
  /** Makes `name` current; `default` clears the choice. The name was checked to exist. */
  use(name: string): void;
  create(record: ContextRecord): void;
  remove(name: string): void;
}

export const DEFAULT_CONTEXT = "default";
const DEFAULT_DESCRIPTION = "Current DOCKER_HOST based configuration";
/** docker's rule for a context's name. */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$/;

/**
 * Contexts kept in memory (the page's worker), with a listener told of every change.
 * @example
 * const store = new MemoryContextStore();
 * store.create({ name: "node2", description: "", host: "tcp://192.168.86.102:2375" });
 * store.use("node2");
 */
export class MemoryContextStore implements ContextStore {
  readonly #records = new Map<string, ContextRecord>();
  #current = DEFAULT_CONTEXT;
  readonly #listeners = new Set<() => void>();

  list(): ContextRecord[] {
    return [...this.#records.values()];
  }

  current(): string {
    return this.#current;
  }

  use(name: string): void {
    this.#current = name;
    this.#changed();
  }

  create(record: ContextRecord): void {
    this.#records.set(record.name, { ...record });
    this.#changed();
  }

  remove(name: string): void {
    this.#records.delete(name);
    if (this.#current === name) this.#current = DEFAULT_CONTEXT;
    this.#changed();
  }

  /** Calls `listener` after each change; returns the unsubscribing. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }
}

/** The contexts as `docker context ls` shows them: `default` first (its endpoint `defaultHost`), then by name. */
export function allContexts(store: ContextStore, defaultHost: string): ContextRecord[] {
  const stored = store.list().sort((a, b) => a.name.localeCompare(b.name));
  return [{ name: DEFAULT_CONTEXT, description: DEFAULT_DESCRIPTION, host: defaultHost }, ...stored];
}

/** Where a command goes: the daemon's address and the context it came from. */
export interface ResolvedHost {
  host: string;
  context: string;
}

/**
 * The daemon a command reaches, in docker's order. Throws a CliError for `--context` with `-H`, and for a context
 * that does not exist.
 * @example
 * resolveHost({ context: "node2", hosts: [], env: {}, store, defaultHost }); // { host: "tcp://…", context: "node2" }
 */
export function resolveHost(options: {
  context: string | undefined;
  hosts: string[];
  env: Record<string, string>;
  store: ContextStore | undefined;
  defaultHost: string;
}): ResolvedHost {
  const { context, hosts, env, store, defaultHost } = options;
  if (context && hosts.length > 0) {
    throw new CliError("conflicting options: either specify --host or --context, not both");
  }
  const named = (name: string): ResolvedHost => {
    if (name === DEFAULT_CONTEXT) return { host: env.DOCKER_HOST || defaultHost, context: name };
    const record = store?.list().find((candidate) => candidate.name === name);
    if (!record) throw new CliError(`context "${name}" does not exist`);
    return { host: record.host, context: name };
  };
  if (context) return named(context);
  if (hosts[0]) return { host: hosts[0], context: DEFAULT_CONTEXT };
  if (env.DOCKER_HOST) return { host: env.DOCKER_HOST, context: DEFAULT_CONTEXT };
  if (env.DOCKER_CONTEXT) return named(env.DOCKER_CONTEXT);
  return named(store?.current() ?? DEFAULT_CONTEXT);
}

function storeOf(store: ContextStore | undefined): ContextStore {
  if (!store) {
    throw new CliError(
      "this docker has nowhere to keep contexts: use -H or DOCKER_HOST to pick a daemon (in Node, the docker CLI keeps contexts)",
    );
  }
  return store;
}

function checkName(name: string): void {
  if (name === DEFAULT_CONTEXT) throw new CliError(`"default" is a reserved context name`);
  if (!NAME.test(name)) {
    throw new CliError(
      `context name "${name}" is invalid, names are validated against regexp "^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"`,
    );
  }
}

/** `--docker host=tcp://…,skip-tls-verify=false`: the endpoint's host; a clear error for anything else. */
function parseDockerEndpoint(text: string): string {
  let host: string | undefined;
  for (const field of text.split(",")) {
    const at = field.indexOf("=");
    const key = at < 0 ? field : field.slice(0, at);
    const value = at < 0 ? "" : field.slice(at + 1);
    if (key === "host") host = value;
    else if (key === "skip-tls-verify" || key === "ca" || key === "cert" || key === "key") continue;
    else throw new CliError(`unable to create docker endpoint config: unrecognized config key: ${key}`);
  }
  if (!host) throw new CliError('unable to create docker endpoint config: give its host, as --docker "host=tcp://…"');
  if (!/^(unix|tcp|ssh|npipe|fd):\/\//.test(host)) {
    throw new CliError(
      `unable to parse docker host \`${host}\`: give unix:///path or tcp://address:port (a node of this page: tcp://192.168.86.102:2375)`,
    );
  }
  return host;
}

export const contextLs = defineVerb(
  {
    name: "ls",
    usage: "[OPTIONS]",
    summary: "List contexts",
    topLevel: false,
    args: { max: 0 },
    flags: [
      { name: "quiet", short: "q", type: "bool", help: "Only show context names" },
      { name: "format", type: "string", help: "Format output using a custom template: 'json'" },
    ] as const,
  },
  async ({ flags, out, io, contexts, defaultHost }) => {
    const store = storeOf(contexts);
    const current = io.env.DOCKER_CONTEXT || store.current();
    const all = allContexts(store, io.env.DOCKER_HOST || defaultHost);
    if (flags.quiet) {
      for (const record of all) await out.line(record.name);
      return 0;
    }
    if (flags.format === "json") {
      for (const record of all) {
        await out.line(
          JSON.stringify({
            Name: record.name,
            Description: record.description,
            DockerEndpoint: record.host,
            Current: record.name === current,
            Error: "",
          }),
        );
      }
      return 0;
    }
    if (flags.format) throw new CliError(`docker context ls takes --format json here, not ${flags.format}`);
    let table = "NAME\tDESCRIPTION\tDOCKER ENDPOINT\tERROR\n";
    for (const record of all) {
      table += `${record.name}${record.name === current ? " *" : ""}\t${record.description}\t${record.host}\t\n`;
    }
    // The empty ERROR column would leave each line padded past a narrow terminal's edge.
    await out.write(tabwrite(table).replace(/ +$/gm, ""));
    return 0;
  },
);

export const contextCreate = defineVerb(
  {
    name: "create",
    usage: "[OPTIONS] CONTEXT",
    summary: "Create a context",
    topLevel: false,
    args: { min: 1, max: 1 },
    flags: [
      { name: "description", type: "string", help: "Description of the context" },
      { name: "docker", type: "string", help: "set the docker endpoint (host=tcp://… or unix:///…)" },
      { name: "from", type: "string", help: "create context from a named context" },
    ] as const,
  },
  async ({ flags, args, out, err, contexts, defaultHost, io }) => {
    const store = storeOf(contexts);
    const name = args[0]!;
    checkName(name);
    if (store.list().some((record) => record.name === name)) throw new CliError(`context "${name}" already exists`);
    let host: string;
    if (flags.docker) host = parseDockerEndpoint(flags.docker);
    else if (flags.from) {
      const from = allContexts(store, io.env.DOCKER_HOST || defaultHost).find((record) => record.name === flags.from);
      if (!from) throw new CliError(`context "${flags.from}" does not exist`);
      host = from.host;
    } else {
      host = resolveHost({ context: undefined, hosts: [], env: io.env, store, defaultHost }).host;
    }
    store.create({ name, description: flags.description ?? "", host });
    await out.line(name);
    await err.line(`Successfully created context "${name}"`);
    return 0;
  },
);

export const contextUse = defineVerb(
  {
    name: "use",
    usage: "CONTEXT",
    summary: "Set the current docker context",
    topLevel: false,
    args: { min: 1, max: 1 },
    flags: [] as const,
  },
  async ({ args, out, err, contexts, io }) => {
    const store = storeOf(contexts);
    const name = args[0]!;
    if (name !== DEFAULT_CONTEXT && !store.list().some((record) => record.name === name)) {
      throw new CliError(`context "${name}" does not exist`);
    }
    store.use(name);
    await out.line(name);
    await err.line(`Current context is now "${name}"`);
    if (io.env.DOCKER_HOST && name !== DEFAULT_CONTEXT) {
      await err.line(
        `Warning: DOCKER_HOST environment variable overrides the active context. To use "${name}", either set the global --context flag, or unset DOCKER_HOST environment variable.`,
      );
    }
    return 0;
  },
);

export const contextRm = defineVerb(
  {
    name: "rm",
    usage: "CONTEXT [CONTEXT...]",
    summary: "Remove one or more contexts",
    topLevel: false,
    args: { min: 1 },
    flags: [{ name: "force", short: "f", type: "bool", help: "Force the removal of a context in use" }] as const,
  },
  async ({ args, flags, out, contexts }) => {
    const store = storeOf(contexts);
    const failures: string[] = [];
    for (const name of args) {
      if (name === DEFAULT_CONTEXT)
        failures.push(`failed to remove context default: default context cannot be removed`);
      else if (!store.list().some((record) => record.name === name)) {
        failures.push(`failed to remove context ${name}: context "${name}" does not exist`);
      } else if (store.current() === name && !flags.force) {
        failures.push(`failed to remove context ${name}: context "${name}" is in use, set -f flag to force remove`);
      } else {
        store.remove(name);
        await out.line(name);
      }
    }
    if (failures.length > 0) throw new CliError(failures.join("\n"));
    return 0;
  },
);

export const contextShow = defineVerb(
  {
    name: "show",
    usage: "",
    summary: "Print the name of the current context",
    topLevel: false,
    args: { max: 0 },
    flags: [] as const,
  },
  async ({ out, contexts, io }) => {
    await out.line(io.env.DOCKER_CONTEXT || storeOf(contexts).current());
    return 0;
  },
);

export const contextInspect = defineVerb(
  {
    name: "inspect",
    usage: "[OPTIONS] [CONTEXT] [CONTEXT...]",
    summary: "Display detailed information on one or more contexts",
    topLevel: false,
    flags: [] as const,
  },
  async ({ args, out, contexts, io, defaultHost }) => {
    const store = storeOf(contexts);
    const all = allContexts(store, io.env.DOCKER_HOST || defaultHost);
    const names = args.length > 0 ? args : [io.env.DOCKER_CONTEXT || store.current()];
    const found = names.map((name) => {
      const record = all.find((candidate) => candidate.name === name);
      if (!record) throw new CliError(`context "${name}" does not exist`);
      return {
        Name: record.name,
        Metadata: { Description: record.description },
        Endpoints: { docker: { Host: record.host, SkipTLSVerify: false } },
      };
    });
    await out.line(JSON.stringify(found, null, 4));
    return 0;
  },
);
