// What the `docker` command line needs from where it runs: its arguments' surroundings (environment, working
// directory), its stdio and terminal, and a way to reach an Engine API. The same CLI runs in Node (process stdio, a
// unix socket), inside the guest (the `docker` applet relays its stdio over a socket to the engine) and in tests.
import type { ContextStore } from "./contexts.ts";

/** The terminal or pipes the CLI was started on. */
export interface CliIO {
  /** The command's standard input; ends at end of input. */
  stdin: ReadableStream<Uint8Array>;
  stdout: WritableStream<Uint8Array>;
  stderr: WritableStream<Uint8Array>;
  /** Whether stdin / stdout are terminals (`docker run -it` refuses `-t` when stdin is not one). */
  isTTY: { stdin: boolean; stdout: boolean };
  /** Environment variables (`DOCKER_HOST`, `DOCKER_API_VERSION`, `HOME`…). */
  env: Record<string, string>;
  /** The working directory the command was started in. */
  cwd: string;
  /** The terminal's size now (rows, cols); undefined when stdout is not a terminal. */
  size(): { rows: number; cols: number } | undefined;
  /** Calls `listener` whenever the terminal is resized; returns the function that unsubscribes. */
  onResize(listener: (size: { rows: number; cols: number }) => void): () => void;
  /** Puts the terminal in raw mode (no echo, no line editing, no signals) or back; a no-op without a terminal. */
  setRawMode(raw: boolean): Promise<void>;
  /**
   * Calls `listener` with each signal (SIGINT 2, SIGTERM 15, SIGHUP 1, SIGQUIT 3) sent to the command while its
   * terminal is not raw, so a verb can stop what it does (docker's signal proxy); returns the function that
   * unsubscribes. Where nobody listens, the host ends the command as the signal would (exit 128 + signal). Absent
   * where signals cannot reach the CLI.
   */
  onSignal?(listener: (signal: number) => void): () => void;
  /**
   * A tar of a directory where the command runs (`docker build .`), read by the host: Node's filesystem, or the
   * guest's own (a `tar -c` spawned there). Absent where the CLI cannot read files (the page's own terminal).
   */
  readDirectory?(path: string): Promise<ReadableStream<Uint8Array>>;
  /** Writes a small file where the command runs (`docker build --iidfile`); absent where the CLI cannot. */
  writeFile?(path: string, text: string): Promise<void>;
  /**
   * The files of the machine the CLI was started on (`docker cp` between them and a container): in Node the local
   * file system, in the guest the guest's. Absent where there are none (then only `-`, a tar on stdin or stdout).
   */
  files?: HostFiles;
}

/** Files on the CLI's side, as tar streams, so modes, owners and symlinks cross unchanged. Paths are absolute. */
export interface HostFiles {
  /** Whether a path exists (not following a final symlink), and whether it is a directory. */
  stat(path: string): Promise<{ isDirectory: boolean } | undefined>;
  /** A tar of `path`, its base name as the entries' first component. */
  pack(path: string): Promise<ReadableStream<Uint8Array>>;
  /** Extracts a tar into the existing directory `dir`. */
  unpack(dir: string, tar: ReadableStream<Uint8Array>): Promise<void>;
}

/**
 * How the CLI reaches an Engine API: one request, one answer, like `fetch`. A request with `Upgrade: tcp` is a
 * hijacked one (attach, exec start): its body is the stream of bytes the client sends after the headers (stdin),
 * and the answer's body is the raw stream the server sends back (Docker's multiplexed frames without a tty).
 */
export type ApiTransport = (request: Request) => Promise<Response>;

/**
 * Where the CLI reaches an Engine API by address, for hosts that can dial one (Node: unix sockets): `-H` wins over
 * `DOCKER_HOST`, which wins over `defaultHost`. Where there is just one API (the guest, the page), pass an
 * {@link ApiTransport} instead.
 */
export interface ApiConnector {
  /** Where `docker context` keeps its contexts (the page's worker); absent: `docker context` says it has none. */
  contexts?: ContextStore;
  /** The address used when neither `-H` nor `DOCKER_HOST` names one (`unix:///var/run/docker.sock`). */
  defaultHost: string;
  /** A transport to the daemon at `host`; throws (with a message saying why) for an address it cannot dial. */
  connect(host: string): ApiTransport;
}
