// HTTP/1.1 over byte streams (a forwarded guest socket, a Node socket), answered by a fetch handler such as the
// Engine API's Hono app; Docker's connection hijacking included.
export {
  type ByteConnection,
  DEFAULT_HTTP_LIMITS,
  type FetchHandler,
  HIJACK_BODY_LENGTH,
  type HttpExchange,
  type HttpLimits,
  isRawStream,
  QUIET_HEADER,
  type ServeOptions,
  serveHttpConnection,
} from "./server.ts";
