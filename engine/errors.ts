// The engine's one error type. A kind says what went wrong in containerd's vocabulary; only engine/api maps kinds
// to HTTP statuses and only engine/cli maps them to exit codes. The message says what happened and what to do.

export type ErrorKind =
  | "notFound"
  | "alreadyExists"
  | "invalidArgument"
  | "conflict"
  /** Refused whatever the state (a predefined network removed, an overlapping pool): dockerd's 403. */
  | "forbidden"
  | "unavailable"
  | "unauthorized"
  | "dataLoss"
  | "deadlineExceeded"
  | "internal";

export class EngineError extends Error {
  override readonly name = "EngineError";
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isEngineError(error: unknown, kind?: ErrorKind): error is EngineError {
  return error instanceof EngineError && (kind === undefined || error.kind === kind);
}
