// The one place engine error kinds become HTTP: Docker's status codes and its `{"message": …}` body.
import { type ErrorKind, isEngineError } from "../errors.ts";

const STATUS: Partial<Record<ErrorKind, number>> = {
  notFound: 404,
  conflict: 409,
  forbidden: 403,
  alreadyExists: 409,
  invalidArgument: 400,
  unauthorized: 401,
  unavailable: 503,
};

/** The HTTP status dockerd would answer for an error of this kind. */
export function statusOfKind(kind: ErrorKind): number {
  return STATUS[kind] ?? 500;
}

/** Status and Docker's error body for anything thrown by the engine (not an EngineError: 500). */
export function errorBody(error: unknown): { status: number; body: { message: string } } {
  if (isEngineError(error)) return { status: statusOfKind(error.kind), body: { message: error.message } };
  return { status: 500, body: { message: error instanceof Error ? error.message : String(error) } };
}

/** A Docker error answer. */
export function errorResponse(status: number, message: string): Response {
  return new Response(`${JSON.stringify({ message })}\n`, {
    status,
    headers: { "content-type": "application/json" },
  });
}
