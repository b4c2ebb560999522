// Docker's own conventions that its daemon and its client share: go-units' sizes and durations (what `docker ps`
// and `docker images` print, computed on both sides) and detach keys (ctrl-p,ctrl-q, watched by both). The Engine
// API (engine/api) and the CLI (engine/cli) both use them, so they live apart from either.
export { DEFAULT_DETACH_KEYS, EscapeSequence, parseDetachKeys } from "./detach-keys.ts";
export { bytesSize, ellipsis, formatG, humanDuration, humanSize, ramInBytes, shortId } from "./units.ts";
