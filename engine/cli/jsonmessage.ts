// Docker's JSON progress stream (pkg/jsonmessage) as the docker CLI shows it: without a terminal one line per status
// and no progress bars; on a terminal one line per layer id, redrawn in place with cursor moves.

import { humanSize } from "../conventions/index.ts";
import { settle } from "./frames.ts";

/** One line of a pull's (or push's) progress stream. */
export interface JsonMessage {
  status?: string;
  id?: string;
  stream?: string;
  from?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number; units?: string; hidecounts?: boolean; start?: number };
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: unknown;
}

/** The daemon reported an error inside the stream (`{"error": …}`); the CLI prints it and fails. */
export class JsonMessageError extends Error {
  override readonly name = "JsonMessageError";
}

const ESC = "\x1b[";

function progressString(detail: NonNullable<JsonMessage["progressDetail"]>, width: number): string {
  const current = detail.current ?? 0;
  const total = detail.total ?? 0;
  if (current <= 0 && total <= 0) return "";
  if (total <= 0) return detail.units ? `${current} ${detail.units}` : humanSize(current).padStart(8);
  const percentage = Math.min(50, Math.trunc(Math.trunc((current / total) * 100) / 2));
  const bar = width > 110 ? `[${"=".repeat(percentage)}>${" ".repeat(Math.max(0, 50 - percentage))}] ` : "";
  let numbers = "";
  if (detail.hidecounts) numbers = "";
  else if (!detail.units) {
    numbers =
      current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  } else {
    numbers = current > total ? `${current} ${detail.units}` : `${current}/${total} ${detail.units}`;
  }
  return bar + numbers;
}

/**
 * Turns progress messages into what docker prints: feed each message to {@link JsonMessageRenderer.render} and write
 * what it returns. On a terminal each layer keeps its line and is redrawn (cursor up, erase line, cursor down).
 * @example
 * const renderer = new JsonMessageRenderer(false);
 * renderer.render({ status: "Pull complete", id: "4f2a", progressDetail: {} }); // "4f2a: Pull complete\n"
 */
export class JsonMessageRenderer {
  /** Line of each layer id, counted from the first progress line of the current group. */
  private ids = new Map<string, number>();

  constructor(
    private readonly isTerminal: boolean,
    private readonly width = 200,
  ) {}

  /** The text for one message; throws {@link JsonMessageError} for an error message. */
  render(message: JsonMessage): string {
    if (message.aux !== undefined) return "";
    let out = "";
    let diff = 0;
    const hasProgress = message.progressDetail !== undefined;
    if (message.id && (hasProgress || message.progress)) {
      let line = this.ids.get(message.id);
      if (line === undefined) {
        line = this.ids.size;
        this.ids.set(message.id, line);
        if (this.isTerminal) out += "\n";
      }
      diff = this.ids.size - line;
      if (this.isTerminal) out += `${ESC}${diff}A`;
    } else {
      this.ids = new Map();
    }
    if (message.error !== undefined || message.errorDetail !== undefined) {
      throw new JsonMessageError(message.errorDetail?.message ?? message.error ?? "unknown error");
    }
    out += this.display(message);
    if (message.id && this.isTerminal) out += `${ESC}${diff}B`;
    return out;
  }

  private display(message: JsonMessage): string {
    let out = "";
    let end = "";
    const progress = message.progressDetail ? progressString(message.progressDetail, this.width) : "";
    if (this.isTerminal && !message.stream && message.progressDetail) {
      out += `${ESC}2K\r`;
      end = "\r";
    } else if (message.progressDetail && progress !== "") {
      return "";
    }
    if (message.id) out += `${message.id}: `;
    if (message.from) out += `(from ${message.from}) `;
    const status = message.status ?? "";
    if (message.progressDetail && this.isTerminal) out += `${status} ${progress}${end}`;
    else if (message.progress) out += `${status} ${message.progress}${end}`;
    else if (message.stream) out += `${message.stream}${end}`;
    else out += `${status}${end}\n`;
    return out;
  }
}

/**
 * Reads a stream of JSON values separated by newlines (the daemon's `\r\n`), yielding each as it arrives; a consumer
 * that stops before the end cancels the stream.
 * @example
 * for await (const message of jsonLines(response.body!)) console.log(message);
 */
export async function* jsonLines(body: ReadableStream<Uint8Array>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffer = "";
  let finished = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (!next.done) buffer += decoder.decode(next.value, { stream: true });
      else buffer += decoder.decode();
      let newline = buffer.indexOf("\n");
      while (newline !== -1) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line) yield JSON.parse(line);
        newline = buffer.indexOf("\n");
      }
      if (next.done) break;
    }
    finished = true;
    if (buffer.trim()) yield JSON.parse(buffer);
  } finally {
    // A consumer that stops early (breaks out, fails, is interrupted) cancels the daemon's stream.
    await settle(reader, finished);
  }
}
