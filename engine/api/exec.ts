// Exec routes: `POST /containers/{id}/exec` makes an exec instance (a command to run in a running container),
// `POST /exec/{id}/start` runs it (hijacked unless detached), `resize`, and `GET /exec/{id}/json`.
import type { Hono } from "hono";
import type { GuestProcess } from "../agent/index.ts";
import { type ContainerService, WASI_RUNTIME } from "../container-service.ts";
import { encodeFrame } from "../conventions/index.ts";
import { EngineError } from "../errors.ts";
import { QUIET_HEADER } from "../http/index.ts";
import { validateUserSpec } from "../runtime/index.ts";
import {
  type ApiOptions,
  empty,
  json,
  jsonBody,
  requestApiVersion,
  requireContainers,
  withContainer,
} from "./common.ts";
import { detachKeysParam, hijacked, pumpStdin, splitHijackedBody, streamContentType } from "./streams.ts";

interface ExecInstance {
  id: string;
  containerId: string;
  argv: string[];
  env: string[];
  user: string;
  workdir?: string;
  privileged: boolean;
  tty: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  /** The detach key sequence of a terminal session, in docker's notation ("" for ctrl-p,ctrl-q). */
  detachKeys: string;
  consoleSize?: { rows: number; cols: number };
  process?: GuestProcess;
  running: boolean;
  exitCode: number | null;
  /** When the process exited (ms since the epoch): the instance is dropped a while later. */
  exitedAt?: number;
}

/** How long an exited exec instance can still be inspected (dockerd's exec GC keeps them about as long). */
const EXITED_EXEC_KEEP_MS = 5 * 60_000;

function newExecId(): string {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const stringList = (value: unknown, field: string): string[] => {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value) && value.every((item) => typeof item === "string")) return value as string[];
  throw new EngineError("invalidArgument", `${field} must be a list of strings`);
};

/** Reads a process's output stream into `send` until it ends. */
/** Output an exec's client may leave unread before the process waits for it. */
const OUTPUT_WINDOW_BYTES = 256 * 1024;

async function drain(
  stream: ReadableStream<Uint8Array>,
  send: (bytes: Uint8Array) => void | Promise<void>,
): Promise<void> {
  const reader = stream.getReader();
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read()) await send(next.value);
  } catch {
    // The agent went away; the exit says so.
  }
}

/**
 * The exec routes; instances live as long as the API app (dockerd drops them a while after they exit). Returns the
 * IDs of a container's exec instances that have not exited (inspect's `ExecIDs`).
 * @example
 * const execIdsOf = registerExecRoutes(app, { images, containers });
 */
export function registerExecRoutes(app: Hono, options: ApiOptions): (containerId: string) => string[] {
  const instances = new Map<string, ExecInstance>();
  const find = (id: string) => {
    const instance = instances.get(id);
    if (!instance) throw new EngineError("notFound", `No such exec instance: ${id}`);
    return instance;
  };

  app.post("/containers/:id/exec", async (c) => {
    const s = requireContainers(options);
    const ref = c.req.param("id");
    const body = await jsonBody(c);
    const details = await withContainer(ref, () => s.inspect(ref));
    if (details.status !== "running") {
      throw new EngineError(
        "conflict",
        details.status === "paused"
          ? `Container ${details.id} is paused, unpause the container before exec`
          : `Container ${details.id} is not running`,
      );
    }
    if (details.runtime === WASI_RUNTIME) {
      throw new EngineError(
        "conflict",
        `Container ${details.id} is a WASI container: a WebAssembly module is one program, with no shell or other processes to exec`,
      );
    }
    const argv = stringList(body.Cmd, "Cmd");
    if (argv.length === 0) throw new EngineError("invalidArgument", "No exec command specified");
    const user = typeof body.User === "string" ? body.User : "";
    if (user) validateUserSpec(user);
    const workdir = typeof body.WorkingDir === "string" && body.WorkingDir ? body.WorkingDir : undefined;
    if (workdir !== undefined && !workdir.startsWith("/")) {
      throw new EngineError("invalidArgument", `invalid WorkingDir "${workdir}": it must be absolute`);
    }
    const size = body.ConsoleSize;
    const instance: ExecInstance = {
      id: newExecId(),
      containerId: details.id,
      argv,
      env: stringList(body.Env, "Env"),
      user,
      privileged: body.Privileged === true,
      tty: body.Tty === true,
      attachStdin: body.AttachStdin === true,
      attachStdout: body.AttachStdout === true,
      attachStderr: body.AttachStderr === true,
      detachKeys: typeof body.DetachKeys === "string" ? body.DetachKeys : "",
      running: false,
      exitCode: null,
    };
    if (workdir !== undefined) instance.workdir = workdir;
    if (Array.isArray(size) && Number(size[0]) > 0 && Number(size[1]) > 0) {
      instance.consoleSize = { rows: Number(size[0]), cols: Number(size[1]) };
    }
    // A lesson's checks exec every few seconds: forget instances that exited a while ago or whose container is gone.
    const now = Date.now();
    const live = new Set(s.list({ all: true }).map((container) => container.id));
    for (const [id, old] of instances) {
      if (!live.has(old.containerId) || (old.exitedAt !== undefined && now - old.exitedAt > EXITED_EXEC_KEEP_MS)) {
        instances.delete(id);
      }
    }
    instances.set(instance.id, instance);
    s.event(details.id, "exec_create", { execID: instance.id, execCommand: argv.join(" ") });
    return json({ Id: instance.id }, 201);
  });

  app.post("/exec/:id/start", async (c) => {
    const s = requireContainers(options);
    const instance = find(c.req.param("id"));
    const { config: body, stdin } = await splitHijackedBody(c.req.raw);
    if (instance.process || instance.exitCode !== null) {
      throw new EngineError("conflict", `Exec ${instance.id} has already been started`);
    }
    const detach = body.Detach === true;
    const tty = body.Tty === true || instance.tty;
    const detachKeys = detachKeysParam(instance.detachKeys);
    const size = Array.isArray(body.ConsoleSize) ? body.ConsoleSize : undefined;
    const pty = tty
      ? size && Number(size[0]) > 0
        ? { rows: Number(size[0]), cols: Number(size[1]) }
        : (instance.consoleSize ?? { rows: 24, cols: 80 })
      : undefined;
    const process = await withContainer(instance.containerId, () =>
      s.exec(instance.containerId, instance.argv, {
        env: instance.env,
        ...(instance.user ? { user: instance.user } : {}),
        ...(instance.privileged ? { privileged: true } : {}),
        ...(instance.workdir !== undefined ? { workdir: instance.workdir } : {}),
        ...(pty ? { pty } : {}),
        ...(c.req.header(QUIET_HEADER) ? { quiet: true } : {}),
      }),
    );
    instance.process = process;
    instance.running = true;
    s.event(instance.containerId, "exec_start", { execID: instance.id, execCommand: instance.argv.join(" ") });
    const exited = finish(s, instance, process);
    if (detach) {
      void drain(process.stdout, () => {});
      void drain(process.stderr, () => {});
      void process.stdin.close().catch(() => {});
      return empty(200);
    }
    // Once the client has gone (cancelled) or detached, the process runs on and what it writes is dropped, as
    // dockerd drops an exec's output nobody is attached to.
    let attached = true;
    let controls!: ReadableStreamDefaultController<Uint8Array>;
    // A client that reads slowly slows the process, as a pipe would: output waits for room in a bounded queue, and
    // the process's streams are not read meanwhile (the agent's credit stops it in the guest).
    const room = new Set<() => void>();
    const wake = () => {
      for (const resolve of room) resolve();
      room.clear();
    };
    const endSession = () => {
      if (!attached) return;
      attached = false;
      wake();
      controls.close();
    };
    const output = new ReadableStream<Uint8Array>(
      {
        // Not awaited: a stream calls pull (which makes room) only once start has settled.
        start: (controller) => {
          controls = controller;
          const send = (stream: "stdout" | "stderr") => async (bytes: Uint8Array) => {
            const wanted = stream === "stdout" ? instance.attachStdout : instance.attachStderr;
            if (attached && (wanted || (!instance.attachStdout && !instance.attachStderr))) {
              controller.enqueue(tty ? bytes : encodeFrame(stream, bytes));
              while (attached && (controller.desiredSize ?? 0) <= 0) await new Promise<void>((r) => room.add(r));
            }
          };
          void Promise.all([drain(process.stdout, send("stdout")), drain(process.stderr, send("stderr"))])
            .then(() => exited)
            .then(endSession);
        },
        pull: wake,
        cancel: () => {
          attached = false;
          wake();
        },
      },
      new ByteLengthQueuingStrategy({ highWaterMark: OUTPUT_WINDOW_BYTES }),
    );
    const writer = process.stdin.getWriter();
    const closeStdin = () => void writer.close().catch(() => {});
    if (instance.attachStdin) {
      // As dockerd: with a tty the end of the client's input (or its detach keys) ends the session, and the process
      // keeps its stdin.
      void pumpStdin(
        stdin,
        (bytes) => writer.write(bytes).catch(() => {}),
        tty ? endSession : closeStdin,
        exited,
        tty ? { keys: detachKeys, onDetach: endSession } : undefined,
      );
    } else if (!tty) {
      closeStdin();
    }
    return hijacked(output, streamContentType(tty, requestApiVersion(c)));
  });

  app.post("/exec/:id/resize", (c) => {
    const instance = find(c.req.param("id"));
    const rows = Number(c.req.query("h"));
    const cols = Number(c.req.query("w"));
    if (!(rows > 0 && cols > 0)) throw new EngineError("invalidArgument", "h and w must be positive numbers");
    if (!instance.process || !instance.running) {
      throw new EngineError("conflict", `Exec ${instance.id} is not running`);
    }
    instance.process.resize(rows, cols);
    return empty(200);
  });

  app.get("/exec/:id/json", (c) => {
    const instance = find(c.req.param("id"));
    return c.json({
      ID: instance.id,
      Running: instance.running,
      ExitCode: instance.exitCode,
      ProcessConfig: {
        tty: instance.tty,
        entrypoint: instance.argv[0],
        arguments: instance.argv.slice(1),
        privileged: instance.privileged,
        ...(instance.user ? { user: instance.user } : {}),
      },
      OpenStdin: instance.attachStdin,
      OpenStderr: instance.attachStderr,
      OpenStdout: instance.attachStdout,
      CanRemove: false,
      ContainerID: instance.containerId,
      DetachKeys: instance.detachKeys,
      Pid: instance.process?.pid ?? 0,
    });
  });
  return (containerId) =>
    [...instances.values()]
      .filter((instance) => instance.containerId === containerId && instance.exitCode === null)
      .map((instance) => instance.id);
}

/** Records the exec's exit (its code, the exec_die event) once the process is gone. */
async function finish(s: ContainerService, instance: ExecInstance, process: GuestProcess): Promise<void> {
  const status = await process.exit.catch(() => ({ code: 126 }));
  instance.running = false;
  instance.exitCode = status.code;
  instance.exitedAt = Date.now();
  try {
    s.event(instance.containerId, "exec_die", { execID: instance.id, exitCode: String(status.code) });
  } catch {
    // The container was removed meanwhile.
  }
}
