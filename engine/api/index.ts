// The Docker Engine REST API (engine/api): a Hono app over the image and container services.
export { type ApiOptions, containerJson, createApiApp } from "./app.ts";
export { MAX_JSON_BODY_BYTES, requestBodyLimit } from "./body-limit.ts";
export { errorBody, errorResponse, statusOfKind } from "./errors.ts";
export { streamContentType } from "./streams.ts";
export { type SwarmApi, swarmInfoJson } from "./swarm.ts";
export { API_VERSION, checkApiVersion, compareApiVersions, MIN_API_VERSION, splitVersionedPath } from "./version.ts";
