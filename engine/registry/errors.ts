// Turning a registry's error answers into EngineErrors. Registries answer with an HTTP status and, usually, a JSON
// body `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"…"}]}` (distribution spec); the code is the better guide.
import { EngineError, type ErrorKind } from "../errors.ts";
import { readLimited } from "./limited.ts";

/** An error body longer than this is not read: its codes are ignored and the status speaks alone. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

interface RegistryErrorBody {
  code?: string;
  message?: string;
}

async function errorCodes(response: Response): Promise<RegistryErrorBody[]> {
  try {
    // An error body is a few hundred bytes; one that is not is not read whole to find out.
    const text = new TextDecoder().decode(await readLimited(response, MAX_ERROR_BODY_BYTES, "an error body"));
    const body: unknown = JSON.parse(text);
    const errors = (body as { errors?: unknown }).errors;
    if (!Array.isArray(errors)) return [];
    return errors.filter((error): error is RegistryErrorBody => typeof error === "object" && error !== null);
  } catch {
    return [];
  }
}

const CODE_KINDS: Record<string, ErrorKind> = {
  MANIFEST_UNKNOWN: "notFound",
  NAME_UNKNOWN: "notFound",
  BLOB_UNKNOWN: "notFound",
  MANIFEST_BLOB_UNKNOWN: "notFound",
  UNAUTHORIZED: "unauthorized",
  DENIED: "unauthorized",
  TOOMANYREQUESTS: "unavailable",
  UNSUPPORTED: "invalidArgument",
  NAME_INVALID: "invalidArgument",
  TAG_INVALID: "invalidArgument",
  DIGEST_INVALID: "invalidArgument",
  MANIFEST_INVALID: "invalidArgument",
};

function kindOfStatus(status: number): ErrorKind {
  if (status === 404) return "notFound";
  if (status === 401 || status === 403) return "unauthorized";
  if (status === 429 || status >= 500) return "unavailable";
  if (status === 400 || status === 405 || status === 416) return "invalidArgument";
  return "internal";
}

/**
 * The error for a registry's non-success answer. `what` names what was asked for, in words a user recognises
 * ("manifest for alpine:nope", "blob sha256:…").
 */
export async function registryError(response: Response, what: string, registry: string): Promise<EngineError> {
  const errors = await errorCodes(response);
  const first = errors[0];
  const kind = (first?.code && CODE_KINDS[first.code]) || kindOfStatus(response.status);
  const detail = errors
    .map((error) => [error.code?.toLowerCase().replaceAll("_", " "), error.message].filter(Boolean).join(": "))
    .filter(Boolean)
    .join("; ");
  const because = detail || `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
  switch (kind) {
    case "notFound":
      return new EngineError(kind, `${what} not found: ${because}`);
    case "unauthorized":
      return new EngineError(kind, `access to ${what} on ${registry} was denied: ${because}`);
    case "unavailable":
      return new EngineError(
        kind,
        response.status === 429 || first?.code === "TOOMANYREQUESTS"
          ? `${registry} is rate-limiting pulls (${because}); wait a while, or log in to raise the limit`
          : `${registry} could not serve ${what}: ${because}`,
      );
    default:
      return new EngineError(kind, `${registry} refused ${what}: ${because}`);
  }
}
