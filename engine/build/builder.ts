// The builder: runs a Dockerfile's steps as Docker's classic builder does. Each step makes an image from the one
// before it: RUN in a real container of that image (its changes become the layer), COPY and ADD from the context or
// another stage or image, the rest only in the config (no layer, `empty_layer` in the history). Every step's image is
// kept untagged with a cache key (its parent, the instruction, the content it copies, the build args it sees), so a
// build that repeats a step reuses its image (`---> Using cache`). The output is the classic builder's
// `Step N/M : …` lines, each step's own output, and `---> <id>`.
import type { ContainerService } from "../container-service.ts";
import { EngineError, isEngineError } from "../errors.ts";
import type { ImageService } from "../image-service.ts";
import type { ImageDetails, NewImageLayer } from "../images/index.ts";
import { egressHint } from "../network/relay.ts";
import {
  type Digest,
  digestOf,
  type ExecutionConfig,
  familiarReference,
  type HistoryEntry,
  type ImageConfig,
  parseReference,
  shortDigest,
} from "../oci/index.ts";
import { type BuildContext, cleanPath } from "./context.ts";
import {
  expandVariables,
  jsonForm,
  type ParsedDockerfile,
  parseDockerfile,
  type Stage,
  type Step,
  splitWords,
} from "./dockerfile.ts";
import {
  archiveCompression,
  archiveTree,
  contextTree,
  copyLayer,
  gzipLayer,
  imageTree,
  type PlannedFile,
  planCopy,
  plannedKey,
  resolveUser,
  type SourceTree,
} from "./files.ts";

export interface BuildOptions {
  context: BuildContext;
  /** The Dockerfile's path in the context (`-f`); `Dockerfile` by default. */
  dockerfile?: string;
  /** Names for the result (`-t`, several allowed). */
  tags?: string[];
  /** `--build-arg NAME=value`; a null value takes the name's value from nowhere (unset). */
  buildArgs?: Record<string, string | null>;
  /** Stop after this stage (`--target`). */
  target?: string;
  /** Run every step again (`--no-cache`). */
  noCache?: boolean;
  /** `--label`s for the result. */
  labels?: Record<string, string>;
  /** Pull base images even when present (`--pull`). */
  pull?: boolean;
  /** `--platform`: linux/386 (the guest's), or wasi/wasm for a WebAssembly image (FROM scratch, COPY, no RUN). */
  platform?: string;
  /** Where the classic builder's lines go (`Step 1/3 : FROM busybox\n`, step output, ` ---> 3f2a…\n`). */
  output?: (text: string) => void;
  signal?: AbortSignal;
}

export interface BuildResult {
  /** The image ID. */
  id: Digest;
  /** The names it was given, as Docker prints them. */
  tags: string[];
  /** Steps run, and how many of them the cache answered. */
  steps: number;
  cached: number;
}

/** Build args Docker knows without an ARG line (the proxy variables) and the platform ones BuildKit sets. */
const PREDEFINED_ARGS = new Set([
  "HTTP_PROXY",
  "http_proxy",
  "HTTPS_PROXY",
  "https_proxy",
  "FTP_PROXY",
  "ftp_proxy",
  "NO_PROXY",
  "no_proxy",
  "ALL_PROXY",
  "all_proxy",
]);
const PLATFORM_ARGS: Record<string, string> = {
  TARGETPLATFORM: "linux/386",
  TARGETOS: "linux",
  TARGETARCH: "386",
  TARGETVARIANT: "",
  BUILDPLATFORM: "linux/386",
  BUILDOS: "linux",
  BUILDARCH: "386",
  BUILDVARIANT: "",
};
const GUEST_PLATFORM = "linux/386";
/** A WASI image can be built too: from scratch, with COPY and ENTRYPOINT (nothing can RUN in it here). */
const WASI_PLATFORM = "wasi/wasm";
const DEFAULT_SHELL = ["/bin/sh", "-c"];

/** What tells that a failed RUN wanted the network, in the words busybox, apk, apt, curl and pip use. */
const NETWORK_FAILURE =
  /bad address|could not resolve|temporary failure in name resolution|name or service not known|network is unreachable|temporary error \(try again later\)|unable to resolve|no address associated|getaddrinfo|connection refused|failed to establish a new connection|could not connect to/i;

interface StageState {
  stage: Stage;
  index: number;
  image: ImageDetails;
  config: ImageConfig;
  /** ARGs declared in the stage, with their values. */
  args: Map<string, string>;
  tree?: SourceTree;
}

const now = () => new Date().toISOString();
const short = (id: Digest) => shortDigest(id);

function envMap(env: readonly string[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of env ?? []) {
    const i = entry.indexOf("=");
    map.set(i < 0 ? entry : entry.slice(0, i), i < 0 ? "" : entry.slice(i + 1));
  }
  return map;
}

function setEnv(env: readonly string[] | undefined, name: string, value: string): string[] {
  const list = (env ?? []).filter((entry) => !entry.startsWith(`${name}=`) && entry !== name);
  list.push(`${name}=${value}`);
  return list;
}

/** Docker's duration strings (`30s`, `1m30s`, `500ms`) in nanoseconds. */
function durationNs(text: string, flag: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  let rest = text.trim();
  if (rest === "" || rest === "0") return 0;
  while (rest) {
    const match = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/.exec(rest);
    if (!match)
      throw new EngineError(
        "invalidArgument",
        `invalid ${flag} duration "${text}": use a number with a unit (30s, 1m)`,
      );
    total += Number(match[1]) * units[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  return Math.round(total);
}

/** What a metadata step needs: how to expand variables, and ARGs it declares. */
export interface ConfigStepContext {
  expand: (text: string) => string;
  /** Called for each ARG the step declares, with its default (undefined when none). */
  declareArg?: (name: string, value: string | undefined) => void;
  /** Whether a CMD was set earlier in the same stage (an ENTRYPOINT then keeps it). */
  cmdSetInStage?: boolean;
}

/**
 * Applies an instruction that only changes the image config (ENV, ARG, LABEL, MAINTAINER, EXPOSE, VOLUME, STOPSIGNAL,
 * USER, SHELL, CMD, ENTRYPOINT, ONBUILD, HEALTHCHECK): a build step, or one of `docker commit --change`. Returns the
 * history's created_by, or undefined when the instruction is not one of these.
 * @example
 * applyConfigStep(parseDockerfile("FROM scratch\nENV A=1").stages[0]!.steps[0]!, config, { expand: (t) => t });
 */
export function applyConfigStep(step: Step, config: ImageConfig, ctx: ConfigStepContext): string | undefined {
  config.config ??= {};
  const exec: ExecutionConfig = config.config;
  const expand = ctx.expand;
  const shell = exec.Shell ?? DEFAULT_SHELL;
  const nop = (text: string) => `/bin/sh -c #(nop) ${text}`;
  let createdBy = nop(` ${step.text}`);
  switch (step.keyword) {
    case "ENV":
      for (const [name, value] of step.properties) exec.Env = setEnv(exec.Env, name, expand(value ?? ""));
      createdBy = nop(` ENV ${step.properties.map(([n]) => `${n}=${envMap(exec.Env).get(n)}`).join(" ")}`);
      break;
    case "ARG":
      for (const [name, value] of step.properties) {
        ctx.declareArg?.(name, value === undefined ? undefined : expand(value));
      }
      break;
    case "LABEL": {
      exec.Labels ??= {};
      const labels = exec.Labels;
      for (const [name, value] of step.properties) labels[expand(name)] = expand(value ?? "");
      break;
    }
    case "MAINTAINER":
      config.author = expand(step.content);
      break;
    case "EXPOSE": {
      exec.ExposedPorts ??= {};
      const ports = exec.ExposedPorts;
      for (const word of splitWords(expand(step.content))) {
        const port = word.includes("/") ? word.toLowerCase() : `${word}/tcp`;
        if (!/^\d+(-\d+)?\/(tcp|udp|sctp)$/.test(port)) {
          throw new EngineError("invalidArgument", `invalid containerPort: ${word}`);
        }
        ports[port] = {};
      }
      break;
    }
    case "VOLUME": {
      exec.Volumes ??= {};
      const volumes = exec.Volumes;
      const list = jsonForm(step.content) ?? splitWords(expand(step.content));
      if (list.length === 0) throw new EngineError("invalidArgument", "VOLUME specified can not be an empty string");
      for (const path of list) volumes[path] = {};
      break;
    }
    case "STOPSIGNAL":
      exec.StopSignal = expand(step.content);
      break;
    case "USER":
      exec.User = expand(step.content);
      break;
    case "SHELL":
      if (!step.json || step.json.length === 0) {
        throw new EngineError("invalidArgument", "SHELL requires the arguments to be in JSON form");
      }
      exec.Shell = step.json;
      break;
    case "CMD":
      exec.Cmd = step.json ?? [...shell, step.content];
      createdBy = nop(` CMD ${JSON.stringify(exec.Cmd)}`);
      break;
    case "ENTRYPOINT":
      exec.Entrypoint = step.json ?? [...shell, step.content];
      // Docker: an ENTRYPOINT set in this stage drops a CMD inherited from the base image.
      if (!ctx.cmdSetInStage) delete exec.Cmd;
      createdBy = nop(` ENTRYPOINT ${JSON.stringify(exec.Entrypoint)}`);
      break;
    case "ONBUILD": {
      const trigger = step.content.trim();
      const keyword = trigger.split(/\s+/)[0]?.toUpperCase();
      if (keyword === "ONBUILD" || keyword === "FROM" || keyword === "MAINTAINER") {
        throw new EngineError("invalidArgument", `${keyword} isn't allowed as an ONBUILD trigger`);
      }
      exec.OnBuild = [...(exec.OnBuild ?? []), trigger];
      break;
    }
    case "HEALTHCHECK": {
      const [kind = "", ...rest] = step.words;
      if (kind.toUpperCase() === "NONE") {
        exec.Healthcheck = { Test: ["NONE"] };
        break;
      }
      if (kind.toUpperCase() !== "CMD") throw new EngineError("invalidArgument", "HEALTHCHECK needs CMD or NONE");
      const commandText = step.content.replace(/^\s*cmd\s+/i, "");
      const json = jsonForm(commandText);
      const check: NonNullable<ExecutionConfig["Healthcheck"]> = {
        Test: json ? ["CMD", ...json] : ["CMD-SHELL", commandText],
      };
      void rest;
      const flag = (name: string) => step.flags.get(name);
      if (flag("interval")) check.Interval = durationNs(flag("interval")!, "--interval");
      if (flag("timeout")) check.Timeout = durationNs(flag("timeout")!, "--timeout");
      if (flag("start-period")) check.StartPeriod = durationNs(flag("start-period")!, "--start-period");
      if (flag("retries")) check.Retries = Number(flag("retries"));
      exec.Healthcheck = check;
      break;
    }
    default:
      return undefined;
  }
  return createdBy;
}

/**
 * Builds images from Dockerfiles, with the containers of a booted guest for RUN.
 * @example
 * const builder = new Builder(images, containers);
 * const context = await readBuildContext(tarBytes);
 * const { id } = await builder.build({ context, tags: ["app:1"], output: (text) => console.log(text) });
 */
export class Builder {
  constructor(
    readonly images: ImageService,
    readonly containers: ContainerService | undefined,
  ) {}

  async build(options: BuildOptions): Promise<BuildResult> {
    const write = options.output ?? (() => {});
    if (options.platform && options.platform !== GUEST_PLATFORM && options.platform !== WASI_PLATFORM) {
      throw new EngineError(
        "invalidArgument",
        `only ${GUEST_PLATFORM} and ${WASI_PLATFORM} images can be built here, not ${options.platform}`,
      );
    }
    const dockerfilePath = cleanPath(options.dockerfile ?? "Dockerfile");
    const dockerfileEntry = options.context.entries.get(dockerfilePath);
    if (dockerfileEntry?.type !== "file") {
      throw new EngineError(
        "invalidArgument",
        `Cannot locate specified Dockerfile: ${options.dockerfile ?? "Dockerfile"}`,
      );
    }
    const parsed = parseDockerfile(new TextDecoder().decode(dockerfileEntry.data));
    const targetIndex = this.#targetIndex(parsed, options.target);
    const stages = parsed.stages.slice(0, targetIndex + 1);
    const labels = Object.entries(options.labels ?? {});
    const labelStep: Step | undefined =
      labels.length > 0
        ? {
            keyword: "LABEL",
            text: `LABEL ${labels.map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(" ")}`,
            content: "",
            raw: "",
            words: [],
            flags: new Map(),
            properties: labels,
            line: 0,
          }
        : undefined;
    const total = stages.reduce((sum, stage) => sum + 1 + stage.steps.length, 0) + (labelStep ? 1 : 0);

    const buildArgs = new Map(Object.entries(options.buildArgs ?? {}));
    const usedArgs = new Set<string>();
    const metaArgs = new Map<string, string>();
    for (const step of parsed.metaArgs) {
      for (const [name, value] of step.properties) {
        const given = buildArgs.get(name);
        usedArgs.add(name);
        metaArgs.set(name, given ?? expandVariables(value ?? PLATFORM_ARGS[name] ?? "", Object.fromEntries(metaArgs)));
      }
    }

    const done: StageState[] = [];
    let number = 0;
    let cached = 0;
    const context = contextTree(options.context);
    for (const [index, stage] of stages.entries()) {
      options.signal?.throwIfAborted();
      number++;
      write(`Step ${number}/${total} : ${stage.from.text}\n`);
      const base = expandVariables(stage.base, { ...PLATFORM_ARGS, ...Object.fromEntries(metaArgs) }, parsed.escape);
      const platform =
        stage.platform && expandVariables(stage.platform, { ...PLATFORM_ARGS, ...Object.fromEntries(metaArgs) });
      if (platform && platform !== (options.platform === WASI_PLATFORM ? WASI_PLATFORM : GUEST_PLATFORM)) {
        throw new EngineError(
          "invalidArgument",
          `FROM --platform=${platform}: this build makes ${options.platform ?? GUEST_PLATFORM} images`,
        );
      }
      const image = await this.#baseImage(base, done, options, write);
      const state: StageState = {
        stage,
        index,
        image,
        config: this.#normalizedConfig(image),
        args: new Map(),
      };
      write(` ---> ${image.record.name === "scratch" ? "" : short(image.record.config.digest)}\n`);
      const triggers = image.config.config?.OnBuild ?? [];
      if (triggers.length > 0 && !done.some((state) => state.image === image)) {
        write(`[Warning] ${base} has ONBUILD triggers, which Drydock does not run yet: ${triggers.join("; ")}\n`);
      }
      const steps = index === stages.length - 1 && labelStep ? [...stage.steps, labelStep] : stage.steps;
      for (const step of steps) {
        options.signal?.throwIfAborted();
        number++;
        write(`Step ${number}/${total} : ${step.text}\n`);
        const hit = await this.#step(state, step, {
          options,
          buildArgs,
          usedArgs,
          metaArgs,
          done,
          context,
          write,
          escape: parsed.escape,
        });
        if (hit) cached++;
        write(` ---> ${short(state.image.record.config.digest)}\n`);
      }
      done.push(state);
    }
    const unused = [...buildArgs.keys()].filter((name) => !usedArgs.has(name) && !PREDEFINED_ARGS.has(name));
    if (unused.length > 0) write(`[Warning] One or more build-args [${unused.join(" ")}] were not consumed\n`);
    const final = done.at(-1)!;
    const id = final.image.record.config.digest;
    write(`Successfully built ${short(id)}\n`);
    const tags: string[] = [];
    for (const tag of options.tags ?? []) {
      const { name } = await this.images.tag(id, tag);
      tags.push(name);
      write(`Successfully tagged ${name.includes(":") ? name : `${name}:latest`}\n`);
    }
    return { id, tags, steps: number, cached };
  }

  #targetIndex(parsed: ParsedDockerfile, target: string | undefined): number {
    if (target === undefined || target === "") return parsed.stages.length - 1;
    const index = parsed.stages.findIndex((stage) => stage.name === target.toLowerCase());
    if (index < 0) throw new EngineError("invalidArgument", `failed to reach build target ${target} in Dockerfile`);
    return index;
  }

  /** The config with a history entry for every layer (some images have none), so steps can be appended. */
  #normalizedConfig(image: ImageDetails): ImageConfig {
    const config = structuredClone(image.config);
    if (!config.history || config.history.filter((h) => !h.empty_layer).length !== image.layers.length) {
      config.history = image.layers.map(() => ({ created_by: "" }));
    }
    return config;
  }

  async #baseImage(
    base: string,
    done: StageState[],
    options: BuildOptions,
    write: (text: string) => void,
  ): Promise<ImageDetails> {
    const stage = done.find((state) => state.stage.name === base.toLowerCase());
    if (stage) return stage.image;
    if (base === "scratch") {
      const wasi = options.platform === WASI_PLATFORM;
      const config: ImageConfig = {
        architecture: wasi ? "wasm" : "386",
        os: wasi ? "wasi" : "linux",
        config: {},
        rootfs: { type: "layers", diff_ids: [] },
        history: [],
      };
      return { record: { name: "scratch" } as ImageDetails["record"], config, layers: [] };
    }
    return this.#image(base, options, write);
  }

  /** A named image, pulled when it is not here (or always with --pull). */
  async #image(name: string, options: BuildOptions, write: (text: string) => void): Promise<ImageDetails> {
    if (!options.pull) {
      try {
        return await this.images.store.get(name);
      } catch (error) {
        if (!isEngineError(error, "notFound")) throw error;
      }
    }
    const reference = parseReference(name);
    write(
      `${reference.tag ?? "latest"}: Pulling from ${familiarReference({ ...reference, tag: undefined, digest: undefined })}\n`,
    );
    const pulled = await this.images.pull(name, { signal: options.signal });
    write(`Digest: ${pulled.digest}\n`);
    write(`Status: ${pulled.upToDate ? "Image is up to date" : "Downloaded newer image"} for ${pulled.name}\n`);
    return pulled.details;
  }

  async #tree(state: StageState): Promise<SourceTree> {
    state.tree ??= await imageTree(this.images.store, state.image);
    return state.tree;
  }

  /** Runs one step on the stage; returns true when the cache answered it. */
  async #step(
    state: StageState,
    step: Step,
    ctx: {
      options: BuildOptions;
      buildArgs: Map<string, string | null>;
      usedArgs: Set<string>;
      metaArgs: Map<string, string>;
      done: StageState[];
      context: SourceTree;
      write: (text: string) => void;
      escape: string;
    },
  ): Promise<boolean> {
    const config = structuredClone(state.config);
    config.config ??= {};
    const exec: ExecutionConfig = config.config;
    const env = () => ({ ...Object.fromEntries(state.args), ...Object.fromEntries(envMap(exec.Env)) });
    const expand = (text: string) => expandVariables(text, env(), ctx.escape);
    const shell = exec.Shell ?? DEFAULT_SHELL;
    const nop = (text: string) => `/bin/sh -c #(nop) ${text}`;
    let createdBy = nop(` ${step.text}`);
    let newLayer: (() => Promise<NewImageLayer>) | undefined;
    let keyExtra: unknown = null;

    const configured = applyConfigStep(step, config, {
      expand,
      cmdSetInStage: state.stage.steps.slice(0, state.stage.steps.indexOf(step)).some((s) => s.keyword === "CMD"),
      declareArg: (name, value) => {
        ctx.usedArgs.add(name);
        const given = ctx.buildArgs.get(name);
        const resolved = given ?? value ?? ctx.metaArgs.get(name) ?? PLATFORM_ARGS[name];
        if (resolved !== undefined && resolved !== null) state.args.set(name, resolved);
        else state.args.delete(name);
      },
    });
    if (step.keyword === "ARG") keyExtra = [...state.args];
    if (configured !== undefined) createdBy = configured;
    else
      switch (step.keyword) {
        case "WORKDIR": {
          const dir = expand(step.content.trim());
          const path = `/${cleanPath(dir.startsWith("/") ? dir : `${exec.WorkingDir ?? "/"}/${dir}`)}`;
          exec.WorkingDir = path;
          const tree = await this.#tree(state);
          const missing = path !== "/" && tree.get(cleanPath(path))?.type !== "directory";
          if (missing) {
            keyExtra = "mkdir";
            newLayer = async () =>
              gzipLayer(
                await copyLayer(
                  [
                    {
                      target: cleanPath(path),
                      source: {
                        path: "",
                        type: "directory",
                        mode: 0o755,
                        uid: 0,
                        gid: 0,
                        mtime: Math.floor(Date.now() / 1000),
                        contentKey: "",
                        read: async () => new Uint8Array(),
                      },
                    },
                  ],
                  { below: tree, now: Math.floor(Date.now() / 1000) },
                ),
              );
          }
          break;
        }
        case "COPY":
        case "ADD": {
          const result = await this.#copy(state, step, exec, expand, ctx);
          createdBy = nop(`${step.keyword} ${result.describe}`);
          keyExtra = result.key;
          newLayer = result.layer;
          break;
        }
        case "RUN": {
          if (state.image.config.os === "wasi") {
            throw new EngineError(
              "invalidArgument",
              `Dockerfile line ${step.line}: RUN in a wasi/wasm stage: a WebAssembly image has no shell or Linux to run commands in; build the .wasm in a linux/386 build (or beforehand) and COPY it in`,
            );
          }
          for (const name of step.flags.keys()) {
            if (name === "network" && step.flags.get(name) !== "host") continue;
            throw new EngineError(
              "invalidArgument",
              `Dockerfile line ${step.line}: RUN --${name} needs BuildKit, which Drydock does not have: drop the flag (or COPY what the mount would bring)`,
            );
          }
          const argv = this.#runArgv(step, shell);
          const argEnv = [...state.args].filter(([name]) => !envMap(exec.Env).has(name)).map(([n, v]) => `${n}=${v}`);
          createdBy = step.json
            ? argv.join(" ")
            : `${argEnv.length > 0 ? `|${argEnv.length} ${argEnv.join(" ")} ` : ""}${argv.join(" ")}`;
          keyExtra = argEnv;
          newLayer = () => this.#run(state, argv, argEnv, exec, ctx.write, ctx.options.signal);
          break;
        }
        default:
          throw new EngineError(
            "invalidArgument",
            `Dockerfile parse error line ${step.line}: unknown instruction: ${step.keyword}`,
          );
      }

    const parentId = state.image.record.name === "scratch" ? "scratch" : state.image.record.config.digest;
    const cacheKey = digestOf(
      new TextEncoder().encode(
        JSON.stringify([parentId, step.keyword, step.text, createdBy, exec, config.author ?? "", keyExtra]),
      ),
    );
    if (!ctx.options.noCache) {
      const hit = await this.images.store.cached(cacheKey);
      if (hit) {
        ctx.write(" ---> Using cache\n");
        this.#advance(state, hit);
        return true;
      }
    }
    const layers: NewImageLayer[] = state.image.layers.map((stored) => ({ stored }));
    const entry: HistoryEntry = { created: now(), created_by: createdBy };
    if (newLayer) layers.push(await newLayer());
    else entry.empty_layer = true;
    config.created = entry.created;
    config.history = [...(config.history ?? []), entry];
    const { rootfs: _rootfs, ...withoutRootfs } = config;
    const options: Parameters<ImageService["store"]["create"]>[0] = { config: withoutRootfs, layers, cacheKey };
    if (parentId !== "scratch") options.parent = parentId as Digest;
    this.#advance(state, await this.images.store.create(options));
    return false;
  }

  #advance(state: StageState, image: ImageDetails): void {
    if (image.layers.at(-1)?.chainId !== state.image.layers.at(-1)?.chainId) state.tree = undefined;
    state.image = image;
    state.config = this.#normalizedConfig(image);
  }

  /** RUN's argv: the exec form as written; the shell form (heredocs included) through SHELL. */
  #runArgv(step: Step, shell: string[]): string[] {
    if (step.json) return step.json;
    const heredoc = /^<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2[ \t]*\n([\s\S]*?)\n[ \t]*\3[ \t]*$/.exec(step.raw.trim());
    if (heredoc) {
      const body = heredoc[1] ? heredoc[4]!.replace(/^\t+/gm, "") : heredoc[4]!;
      return [...shell, body];
    }
    // A heredoc after a command (`cat <<EOF > file`): the shell reads it, so keep the lines as they are.
    if (step.raw.includes("<<") && step.raw.includes("\n")) return [...shell, step.raw];
    return [...shell, step.content];
  }

  async #run(
    state: StageState,
    argv: string[],
    argEnv: string[],
    exec: ExecutionConfig,
    write: (text: string) => void,
    signal: AbortSignal | undefined,
  ): Promise<NewImageLayer> {
    const containers = this.containers;
    if (!containers) throw new EngineError("unavailable", "RUN needs the guest: no containers can run here");
    const parentId = state.image.record.config.digest;
    if (state.image.record.name === "scratch") {
      throw new EngineError("invalidArgument", "RUN in a stage FROM scratch has no shell to run: COPY files in first");
    }
    const options: Parameters<ContainerService["create"]>[1] = { cmd: argv, entrypoint: [], env: argEnv };
    if (exec.WorkingDir) options.workdir = exec.WorkingDir;
    if (exec.User) {
      const { uid, gid } = await resolveUser(await this.#tree(state), exec.User);
      options.user = `${uid}:${gid}`;
    }
    // Its layer is read and it is removed at once: its files need not be saved to the engine's storage.
    const container = await containers.create(parentId, options, { keepFiles: false });
    const id = container.id;
    write(` ---> Running in ${id.slice(0, 12)}\n`);
    const onAbort = () => void containers.kill(id).catch(() => {});
    signal?.addEventListener("abort", onAbort);
    let output = "";
    try {
      const exited = containers.waitFor(id, "next-exit");
      const logs = containers.logs(id, { follow: true, live: true }).getReader();
      await containers.start(id);
      const decoder = new TextDecoder();
      for (;;) {
        const next = await logs.read();
        if (next.done) break;
        const text = decoder.decode(next.value.data, { stream: true });
        output = (output + text).slice(-4096);
        write(text);
      }
      const { code } = await exited;
      signal?.throwIfAborted();
      if (code !== 0) {
        const command = argv.join(" ");
        let message = `The command '${command}' returned a non-zero code: ${code}`;
        if (NETWORK_FAILURE.test(output)) {
          message += `. ${egressHint(containers.drydock.relay)}; or download what it needs outside and COPY it in instead`;
        }
        throw new EngineError("invalidArgument", message);
      }
      const { tar } = await containers.layer(id);
      return gzipLayer(tar);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      write(`Removing intermediate container ${id.slice(0, 12)}\n`);
      await containers.remove(id, { force: true, volumes: true }).catch(() => {});
    }
  }

  async #copy(
    state: StageState,
    step: Step,
    exec: ExecutionConfig,
    expand: (text: string) => string,
    ctx: { options: BuildOptions; done: StageState[]; context: SourceTree; write: (text: string) => void },
  ): Promise<{ describe: string; key: unknown; layer: () => Promise<NewImageLayer> }> {
    const words = jsonForm(step.content) ?? splitWords(expand(step.content));
    if (words.length < 2) throw new EngineError("invalidArgument", `${step.keyword} requires at least two arguments`);
    const sources = words.slice(0, -1);
    let dest = words.at(-1)!;
    if (!dest.startsWith("/")) {
      const trailing = dest.endsWith("/") || dest === "." ? "/" : "";
      dest = `/${cleanPath(`${exec.WorkingDir ?? "/"}/${dest}`)}${trailing}`;
    }
    let tree = ctx.context;
    let what = "build context";
    const from = step.flags.get("from");
    if (from !== undefined) {
      const name = expand(from);
      const byName = ctx.done.find((done) => done.stage.name === name.toLowerCase());
      const byIndex = /^\d+$/.test(name) ? ctx.done[Number(name)] : undefined;
      const stage = byName ?? byIndex;
      if (stage) {
        tree = await this.#tree(stage);
        what = `stage ${name}`;
      } else {
        const image = await this.#image(name, ctx.options, ctx.write);
        tree = await imageTree(this.images.store, image);
        what = `image ${name}`;
      }
    }
    const planned: PlannedFile[] = [];
    const plain: string[] = [];
    for (const source of sources) {
      if (/^[a-z]+:\/\//i.test(source)) {
        if (step.keyword === "ADD") {
          throw new EngineError(
            "invalidArgument",
            `ADD ${source}: the builder does not download URLs yet; download it outside and COPY it in`,
          );
        }
        throw new EngineError(
          "invalidArgument",
          `COPY cannot copy from a URL (${source}): use ADD, or COPY a file of the context`,
        );
      }
      const file = tree.get(cleanPath(source));
      const compression =
        step.keyword === "ADD" && from === undefined && file?.type === "file"
          ? archiveCompression(await file.read())
          : undefined;
      if (file && compression) {
        // ADD unpacks a local tar archive into the destination directory.
        const archive = await archiveTree(await file.read(), compression);
        planned.push(...planCopy(archive, [""], dest.endsWith("/") ? dest : `${dest}/`, `archive ${source}`));
      } else {
        plain.push(source);
      }
    }
    if (plain.length > 0) {
      const single = plain.length === 1 && sources.length > 1 && !dest.endsWith("/") ? `${dest}/` : dest;
      planned.push(...planCopy(tree, plain, sources.length > 1 && !single.endsWith("/") ? `${single}/` : single, what));
    }
    const below = await this.#tree(state);
    const chown = step.flags.get("chown");
    const owner = chown ? await resolveUser(below, expand(chown)) : undefined;
    const chmodText = step.flags.get("chmod");
    let mode: number | undefined;
    if (chmodText !== undefined) {
      if (!/^[0-7]{3,4}$/.test(chmodText))
        throw new EngineError("invalidArgument", `invalid chmod parameter "${chmodText}": use octal, like 755`);
      mode = Number.parseInt(chmodText, 8);
    }
    const key = plannedKey(planned);
    const describe = `${planned.length === 1 && planned[0]?.source.type === "file" ? "file" : "dir"}:${key.slice(7)} in ${dest} `;
    return {
      describe,
      key: [key, owner ?? null, mode ?? null, dest],
      layer: async () => {
        const options: Parameters<typeof copyLayer>[1] = { below, now: Math.floor(Date.now() / 1000) };
        if (owner) options.owner = owner;
        if (mode !== undefined) options.mode = mode;
        return gzipLayer(await copyLayer(planned, options));
      },
    };
  }
}
