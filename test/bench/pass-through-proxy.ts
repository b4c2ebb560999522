// The floor of a registry proxy: a bare HTTP hop in its own process, which forwards each request to one upstream and
// pipes the answer back with node:http and nothing else (no checks, no cache, no web streams). Its URLs have the
// proxy's shape (`/v2/<registry>/<repository>/…`), so the engine pulls through it as through web/proxy. What it adds
// to a pull is what any extra loopback hop costs on this machine; the proxy's own overhead is what it adds beyond.
// Usage: node --import tsx test/bench/pass-through-proxy.ts <upstream URL>; prints "listening on <URL> " when ready.
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";

const upstream = new URL(process.argv[2] ?? "");
const server = createServer((incoming, answer) => {
  // `/v2/<registry>/<repository>/…` → `/v2/<repository>/…`; the API's root `/v2/` stays as it is.
  const path = (incoming.url ?? "/").replace(/^\/v2\/[^/]+\//, "/v2/");
  const forwarded = request(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: incoming.method,
      path,
      headers: { ...incoming.headers, host: upstream.host },
    },
    (response) => {
      answer.writeHead(response.statusCode ?? 502, response.headers);
      response.pipe(answer);
    },
  );
  forwarded.on("error", (error) => {
    if (!answer.headersSent) answer.writeHead(502);
    answer.end(String(error));
  });
  incoming.pipe(forwarded);
});
server.listen(0, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}/ `);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
