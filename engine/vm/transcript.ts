// Keeps the last lines a guest printed, so an error can quote what the kernel said before it died.

const MAX_LINES = 200;

export class Transcript {
  #lines: string[] = [];
  #partial = "";
  #decoder = new TextDecoder();

  push(bytes: Uint8Array): void {
    const text = this.#partial + this.#decoder.decode(bytes, { stream: true });
    const parts = text.split(/\r?\n/);
    this.#partial = parts.pop() ?? "";
    for (const line of parts) this.#lines.push(line);
    if (this.#lines.length > MAX_LINES) this.#lines.splice(0, this.#lines.length - MAX_LINES);
  }

  tail(count = 20): string[] {
    const lines = this.#partial ? [...this.#lines, this.#partial] : this.#lines;
    return lines.slice(-count);
  }
}
