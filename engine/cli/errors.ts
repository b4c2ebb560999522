// How the CLI fails: every failure becomes a message on stderr and an exit code, the way docker 20.10 words and
// numbers them. This is the only place engine error kinds turn into exit codes.
import { type ErrorKind, isEngineError } from "../errors.ts";

/**
 * A failure to report: `message` goes to stderr as it is (nothing when empty), `status` is the exit code.
 * @example
 * throw new CliError("Error: No such container: web");
 */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly status = 1,
  ) {
    super(message);
  }
}

/**
 * The command stops here, whatever it was doing and however many targets were left: a signal ended it, or whatever
 * read its output is gone. Nothing is printed; `status` is the exit code.
 * @example
 * throw new CommandStopped(130);
 */
export class CommandStopped extends CliError {
  constructor(status: number, cause?: unknown) {
    super("", status);
    this.cause = cause;
  }
}

/**
 * The daemon answered with an error status: `Error response from daemon: <its message>`, or docker's
 * `Error: No such container: x` when the call names the object a 404 is about.
 * @example
 * new DaemonError(409, "You cannot remove a running container …");
 */
export class DaemonError extends CliError {
  constructor(
    readonly httpStatus: number,
    readonly daemonMessage: string,
    notFound?: { object: string; id: string },
  ) {
    super(
      httpStatus === 404 && notFound
        ? `Error: No such ${notFound.object}: ${notFound.id}`
        : `Error response from daemon: ${daemonMessage}`,
    );
  }
}

/** The daemon could not be reached at all. */
export class ConnectionError extends CliError {
  constructor(host: string, cause?: unknown) {
    super(`Cannot connect to the Docker daemon at ${host}. Is the docker daemon running?`);
    this.cause = cause;
  }
}

const KIND_STATUS: Record<ErrorKind, number> = {
  notFound: 1,
  alreadyExists: 1,
  invalidArgument: 1,
  conflict: 1,
  forbidden: 1,
  unavailable: 1,
  unauthorized: 1,
  dataLoss: 1,
  deadlineExceeded: 1,
  internal: 1,
};

/**
 * The message and exit code for anything a verb threw: CLI errors as they are, engine errors by kind (docker
 * fails most verbs with 1), anything else with its message.
 * @example
 * describeFailure(new CliError("boom", 125)); // { message: "boom", status: 125 }
 */
export function describeFailure(error: unknown): { message: string; status: number } {
  if (error instanceof CliError) return { message: error.message, status: error.status };
  if (isEngineError(error)) return { message: error.message, status: KIND_STATUS[error.kind] };
  return { message: error instanceof Error ? error.message : String(error), status: 1 };
}
