// The detach key sequence of a terminal session (`docker run -it`, `docker exec -it`): Ctrl-P Ctrl-Q unless
// --detach-keys names another. Both sides of a hijacked connection look for it, as docker does (moby/term's
// EscapeProxy in the CLI's stdin copier and in the daemon's): whichever sees it first ends the session while the
// container keeps running.

/** docker's default: ctrl-p, ctrl-q. */
export const DEFAULT_DETACH_KEYS = new Uint8Array([16, 17]);

/** moby/term's names for the control characters, by code: ctrl-@ is 0, ctrl-a is 1 … ctrl-_ is 31. */
const CONTROL_NAMES = [
  "ctrl-@",
  ..."abcdefghijklmnopqrstuvwxyz".split("").map((letter) => `ctrl-${letter}`),
  "ctrl-[",
  "ctrl-\\",
  "ctrl-]",
  "ctrl-^",
  "ctrl-_",
];

/**
 * Parses a detach key sequence as docker does (moby/term ToBytes): comma-separated keys, each a single character,
 * `ctrl-<letter>` (or `ctrl-@ ctrl-[ ctrl-\ ctrl-] ctrl-^ ctrl-_`) or `DEL`. Throws on an unknown key, with
 * docker's message.
 * @example
 * parseDetachKeys("ctrl-p,ctrl-q"); // Uint8Array [16, 17]
 * parseDetachKeys("ctrl-x,x"); // Uint8Array [24, 120]
 */
export function parseDetachKeys(keys: string): Uint8Array {
  const codes: number[] = [];
  for (const key of keys.split(",")) {
    if (key.length === 1) {
      codes.push(key.charCodeAt(0) & 0xff);
      continue;
    }
    const code = CONTROL_NAMES.indexOf(key.toLowerCase());
    if (code !== -1) codes.push(code);
    else if (key.toUpperCase() === "DEL") codes.push(127);
    else throw new Error(`Unknown character: '${key}'`);
  }
  return new Uint8Array(codes);
}

/**
 * Watches keystrokes for the detach sequence. Like moby/term's EscapeProxy, keys count only when they arrive on
 * their own (a keystroke, not pasted text): a chunk made only of the sequence's next keys is held back; the whole
 * sequence detaches (and is never forwarded); anything else releases what was held, unchanged.
 * @example
 * const escape = new EscapeSequence(DEFAULT_DETACH_KEYS);
 * escape.push(new Uint8Array([16])); // { forward: [], detached: false } (held)
 * escape.push(new Uint8Array([17])); // { forward: [], detached: true }
 */
export class EscapeSequence {
  /** How many keys of the sequence have been typed and held back. */
  private matched = 0;

  constructor(private readonly keys: Uint8Array = DEFAULT_DETACH_KEYS) {}

  /** What to forward of `chunk` (with any keys held before it), and whether the sequence is now complete. */
  push(chunk: Uint8Array): { forward: Uint8Array; detached: boolean } {
    const { keys } = this;
    const continues =
      keys.length > 0 &&
      chunk.length > 0 &&
      this.matched + chunk.length <= keys.length &&
      chunk.every((byte, index) => byte === keys[this.matched + index]);
    if (continues) {
      this.matched += chunk.length;
      if (this.matched < keys.length) return { forward: new Uint8Array(0), detached: false };
      this.matched = 0;
      return { forward: new Uint8Array(0), detached: true };
    }
    if (this.matched === 0) return { forward: chunk, detached: false };
    const forward = new Uint8Array(this.matched + chunk.length);
    forward.set(keys.subarray(0, this.matched));
    forward.set(chunk, this.matched);
    this.matched = 0;
    return { forward, detached: false };
  }
}
