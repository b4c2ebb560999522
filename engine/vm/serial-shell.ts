// Runs shell commands on a guest's serial console and collects their output and exit status. This is how the
// kernel self-test and the cold-boot benchmark talk to a guest that has no agent; the engine uses drydockd.
import { EngineError } from "../errors.ts";
import type { Machine } from "./machine.ts";

export interface CommandResult {
  output: string;
  code: number;
}

// busybox ash follows its prompt with a cursor position query (ESC [6n) that nobody answers.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the escape byte is what the shell really sends.
const PROMPT = /drydock:[^\n]*# (?:\x1b\[6n)?$/;

export class SerialShell {
  readonly #machine: Machine;
  #buffer = "";
  #waiter: { test: () => boolean; wake: () => void } | undefined;
  readonly #unsubscribe: () => void;
  #sequence = 0;

  constructor(machine: Machine) {
    this.#machine = machine;
    const decoder = new TextDecoder();
    this.#unsubscribe = machine.serial.onData((bytes) => {
      this.#buffer += decoder.decode(bytes, { stream: true });
      if (this.#waiter?.test()) this.#waiter.wake();
    });
  }

  /** Resolves with everything printed up to and including the first match of `pattern`, consuming it. */
  async expect(pattern: RegExp, timeoutMs: number): Promise<string> {
    let match: RegExpExecArray | null = null;
    const test = () => {
      match = pattern.exec(this.#buffer);
      return match !== null;
    };
    if (!test()) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.#waiter = undefined;
          const tail = this.#machine.consoleTail(15).join("\n");
          reject(
            new EngineError(
              "deadlineExceeded",
              `the guest did not print ${pattern} within ${timeoutMs} ms; its console ended with:\n${tail}`,
            ),
          );
        }, timeoutMs);
        this.#waiter = {
          test,
          wake: () => {
            clearTimeout(timer);
            this.#waiter = undefined;
            resolve();
          },
        };
      });
    }
    const found = match as unknown as RegExpExecArray;
    const end = found.index + found[0].length;
    const consumed = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end);
    return consumed;
  }

  /** Waits for the shell prompt and widens the terminal so long command lines are echoed without wrapping. */
  async ready(timeoutMs: number): Promise<void> {
    await this.expect(PROMPT, timeoutMs);
    await this.run("stty cols 4096 rows 50", timeoutMs);
  }

  /**
   * Runs one command line and returns its output (stdout and stderr, with CRLF turned into LF) and exit code.
   * @example
   * const { output, code } = await shell.run("uname -r", 5000);
   */
  async run(command: string, timeoutMs = 30_000): Promise<CommandResult> {
    const id = ++this.#sequence;
    // The marker is split in the typed line, so the terminal's echo of the command cannot match it.
    this.#machine.serial.write(`${command}; echo "@@DONE${id}"":$?@@"\n`);
    const text = await this.expect(new RegExp(`@@DONE${id}:(\\d+)@@\\r?\\n[\\s\\S]*?${PROMPT.source}`), timeoutMs);
    const [, code] = /@@DONE\d+:(\d+)@@/.exec(text) ?? [];
    const lines = text.replace(/\r\n/g, "\n").split("\n");
    const markerLine = lines.findIndex((line) => line.startsWith(`@@DONE${id}:`));
    // Drop the echoed command (the first line) and everything from the marker on.
    const output = lines.slice(1, markerLine).join("\n");
    return { output: output ? `${output}\n` : "", code: Number(code) };
  }

  dispose(): void {
    this.#unsubscribe();
  }
}
