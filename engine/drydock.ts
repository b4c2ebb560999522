// The Drydock facade: a guest machine with its agent, ready to run processes.
import { AgentClient, type GuestProcess, type SpawnOptions } from "./agent/client.ts";
import { EngineError } from "./errors.ts";
import { type RelayConfig, relayWispUrl } from "./network/relay.ts";
import { type CompiledWasm, type MachineArtifacts, type MachineStep, V86Machine } from "./vm/v86-machine.ts";

export interface BootOptions {
  /** The BIOS files, and for a cold boot the kernel and its command line. */
  artifacts: MachineArtifacts;
  /** Where v86.wasm is: a file path in Node, a URL in the browser. */
  wasmPath: string;
  /** A saved state to resume (fast); without one the guest boots cold (a few seconds). */
  state?: ArrayBuffer;
  /** Guest memory in MiB; must match the saved state's. */
  memoryMiB?: number;
  /** Adds to the kernel command line (cold boot only). */
  extraCmdline?: string;
  /** How long to wait for the guest agent. */
  timeoutMs?: number;
  /** The Wisp server (`ws://…/wisp/`) the guest's network card reaches the outside through; none: no way out. */
  relayUrl?: string;
  /** v86.wasm compiled by the caller (see V86MachineOptions.wasmModule). */
  wasmModule?: CompiledWasm;
  /** Told the start and end (performance.now()) of each step: the machine's, then the agent's hello. */
  onStep?: (step: MachineStep | "agent hello", start: number, end: number) => void;
  /**
   * The relay containers reach the outside through: its Wisp endpoint for v86's network card (unless `relayUrl`
   * names one), its DNS for the embedded resolver, and the Trace's wording.
   */
  relay?: RelayConfig;
  /**
   * Adopt the login shell parked in the restored state together with the hello (one round trip fewer than asking
   * later); `openLoginShell` then hands it over. For a page that opens its terminal at once.
   */
  loginShell?: boolean;
}

/** The learner's shell: what the page's terminal runs, parked in the saved state so a restore finds it started. */
export const LOGIN_SHELL = {
  argv: ["sh", "-l"],
  env: ["TERM=xterm-256color", "HOME=/root", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
} as const;
/** The key it is parked under: the command itself, so a state whose shell is another command is never adopted. */
const LOGIN_SHELL_KEY = `login ${JSON.stringify(LOGIN_SHELL)}`;
/** The size of the parked shell's terminal, until the page's terminal tells its own. */
const PARKED_PTY = { rows: 24, cols: 80 };

/** What `openLoginShell` gives: the shell, and whether it was the one parked in the saved state. */
export interface LoginShell {
  process: GuestProcess;
  adopted: boolean;
  /** Why the parked shell could not be adopted (a state saved without one, or it exited), when it was not. */
  reason?: string;
}

/**
 * A running guest and its agent.
 * @example
 * const drydock = await Drydock.boot({ artifacts, wasmPath, state });
 * const proc = await drydock.spawn("uname", ["-a"]);
 * console.log(await new Response(proc.stdout).text());
 * await drydock.dispose();
 */
export class Drydock {
  /** The parked login shell, adopted with the hello (BootOptions.loginShell), until `openLoginShell` takes it. */
  #earlyLogin: Promise<GuestProcess> | undefined;

  private constructor(
    readonly machine: V86Machine,
    readonly agent: AgentClient,
    /** The relay the guest's network card and the embedded DNS go out through, if any. */
    readonly relay: RelayConfig | undefined,
  ) {}

  static async boot(options: BootOptions): Promise<Drydock> {
    // v86's network card connects to the relay's Wisp endpoint (the machine's `relayUrl`).
    const relayUrl = options.relayUrl ?? (options.relay ? relayWispUrl(options.relay) : undefined);
    const machine = await V86Machine.boot({ ...options, ...(relayUrl ? { relayUrl } : {}) });
    const consoleTail = () => machine.consoleTail(15);
    let crashed: ((error: Error) => void) | undefined;
    const crash = new Promise<never>((_, reject) => {
      crashed = reject;
    });
    crash.catch(() => {});
    let agent: AgentClient | undefined;
    machine.onCrash((reason) => {
      const error = new EngineError(
        "unavailable",
        `the guest crashed (${reason.trim()}); its console ended with:\n${consoleTail().join("\n")}`,
      );
      crashed?.(error);
      agent?.fail(error);
    });
    // drydockd's end of the link closed: it exited (killed, crashed). Said at once, not when busybox init has
    // started another a second later and it says HELLO again.
    machine.onAgentLinkClosed(() => {
      const error = new EngineError(
        "unavailable",
        `drydockd exited in the guest (it closed the agent link); whatever it ran for the engine is gone; its console ended with:\n${consoleTail().join("\n")}`,
      );
      crashed?.(error);
      agent?.fail(error);
    });
    const greeting = performance.now();
    let earlyLogin: Promise<GuestProcess> | undefined;
    try {
      agent = await Promise.race([
        AgentClient.connect(machine.agentLink, {
          awaitStart: !options.state,
          ...(options.loginShell && options.state
            ? {
                afterSync: (client: AgentClient) => {
                  earlyLogin = client.adopt(LOGIN_SHELL_KEY);
                  earlyLogin.catch(() => {});
                },
              }
            : {}),
          consoleTail,
          timeoutMs: options.timeoutMs ?? (options.state ? 10_000 : 60_000),
        }),
        crash,
      ]);
    } catch (error) {
      await machine.dispose();
      throw error;
    }
    options.onStep?.("agent hello", greeting, performance.now());
    const drydock = new Drydock(machine, agent, options.relay);
    drydock.#earlyLogin = earlyLogin;
    return drydock;
  }

  /**
   * Starts `command` in the guest (searched in PATH), with pipes or a pty.
   * @example
   * const shell = await drydock.spawn("sh", [], { pty: { rows: 24, cols: 80 } });
   */
  spawn(command: string, args: string[] = [], options: Omit<SpawnOptions, "argv"> = {}): Promise<GuestProcess> {
    return this.agent.spawn({ ...options, argv: [command, ...args] });
  }

  /**
   * Starts the learner's shell (`LOGIN_SHELL`) and parks it, so that a state saved now holds a shell that has
   * already run its profile and printed its prompt. Resolves once it has.
   */
  parkLoginShell(): Promise<number> {
    return this.agent.park(LOGIN_SHELL_KEY, {
      ...LOGIN_SHELL,
      argv: [...LOGIN_SHELL.argv],
      env: [...LOGIN_SHELL.env],
      pty: PARKED_PTY,
    });
  }

  /**
   * The learner's shell on a pty of this size: the one parked in the restored state (see `parkLoginShell`) when
   * there is one, or a new one (a state saved without it, a cold boot, a parked shell that exited).
   * @example
   * const { process, adopted } = await drydock.openLoginShell(24, 80);
   */
  async openLoginShell(rows: number, cols: number): Promise<LoginShell> {
    const early = this.#earlyLogin;
    this.#earlyLogin = undefined;
    try {
      if (early) {
        const process = await early;
        process.resize(rows, cols);
        return { process, adopted: true };
      }
      return { process: await this.agent.adopt(LOGIN_SHELL_KEY, { pty: { rows, cols } }), adopted: true };
    } catch (error) {
      // A link that failed fails the spawn too, with its own reason.
      const process = await this.agent.spawn({
        argv: [...LOGIN_SHELL.argv],
        env: [...LOGIN_SHELL.env],
        pty: { rows, cols },
      });
      return { process, adopted: false, reason: error instanceof Error ? error.message : String(error) };
    }
  }

  /** Saves the running guest so that a later `boot({ state })` resumes it. */
  saveState(): Promise<ArrayBuffer> {
    return this.machine.saveState();
  }

  async dispose(): Promise<void> {
    this.agent.dispose();
    await this.machine.dispose();
  }
}
