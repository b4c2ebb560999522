// Docker's own conventions that its daemon and its client share: go-units' sizes and durations (what `docker ps`
// and `docker images` print, computed on both sides), detach keys (ctrl-p,ctrl-q, watched by both) and the
// stdout/stderr frames of attach, exec and logs (written by one, read by the other). The Engine
// API (engine/api) and the CLI (engine/cli) both use them, so they live apart from either.
export { DEFAULT_DETACH_KEYS, EscapeSequence, parseDetachKeys } from "./detach-keys.ts";
export { encodeFrame, type Frame, FrameParser, type FrameStream } from "./stdcopy.ts";
export { bytesSize, ellipsis, formatG, humanDuration, humanSize, ramInBytes, shortId } from "./units.ts";
