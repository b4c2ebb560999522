// `npm run relay -- [options]`: the relay as a server of its own, for a deployment next to the static site or a
// classroom machine. Run with `--help` for the options.

import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { DEFAULT_RELAY_LIMITS } from "./limits.ts";
import { relayOptions, settingsFromEnv } from "./options.ts";
import { DEFAULT_ALLOWLIST } from "./policy.ts";
import { createRelay } from "./server.ts";

const HELP = `Usage: npm run relay -- [options]

The way out for Drydock's containers and builds: Wisp over WebSocket at /wisp/ (what v86's network card speaks) and
DNS over HTTPS at /dns-query (what the engine's embedded resolver asks). Only names on the allowlist resolve, and a
connection goes only to an address the resolver handed to that client, if it is public, on an allowed port.

Options:
  --port <n>                    port to listen on (default 8090; 0 picks a free one)
  --host <address>              address to listen on (default 127.0.0.1)
  --allow <host|*.domain>       add to the allowlist; may repeat or be comma-separated
                                (default: ${DEFAULT_ALLOWLIST.join(", ")})
  --no-default-allowlist        only what --allow names
  --ports <list>                destination ports allowed (default 80,443)
  --allow-private <host>        an allowlisted name that may resolve to a private or loopback address (your own
                                mirror); may repeat
  --connections-per-minute <n>  new streams per client per minute (default ${DEFAULT_RELAY_LIMITS.connectionsPerMinute})
  --concurrent-streams <n>      streams open at once per client (default ${DEFAULT_RELAY_LIMITS.concurrentStreams})
  --bytes-per-minute <size>     bytes per client per minute, both ways; K, M, G suffixes (default 512M)
  --queries-per-minute <n>      DNS queries per client per minute (default ${DEFAULT_RELAY_LIMITS.queriesPerMinute})
  --trust-proxy                 take the client's address from X-Forwarded-For (behind your own reverse proxy only)
  --quiet                       log refusals only
  --help                        show this help

The same settings can come from the environment (the flags add to them): DRYDOCK_RELAY_ALLOW, DRYDOCK_RELAY_PORTS,
DRYDOCK_RELAY_ALLOW_PRIVATE, DRYDOCK_RELAY_NO_DEFAULT_ALLOWLIST=1, DRYDOCK_RELAY_CONNECTIONS_PER_MINUTE,
DRYDOCK_RELAY_CONCURRENT_STREAMS, DRYDOCK_RELAY_BYTES_PER_MINUTE, DRYDOCK_RELAY_QUERIES_PER_MINUTE.
`;

function main(): void {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8090" },
      host: { type: "string", default: "127.0.0.1" },
      allow: { type: "string", multiple: true, default: [] },
      "no-default-allowlist": { type: "boolean", default: false },
      ports: { type: "string" },
      "allow-private": { type: "string", multiple: true, default: [] },
      "connections-per-minute": { type: "string" },
      "concurrent-streams": { type: "string" },
      "bytes-per-minute": { type: "string" },
      "queries-per-minute": { type: "string" },
      "trust-proxy": { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const env = settingsFromEnv(process.env);
  const settings = relayOptions({
    allow: [...(env.allow ?? []), ...values.allow],
    noDefaultAllowlist: values["no-default-allowlist"] || env.noDefaultAllowlist === true,
    ports: values.ports ? [values.ports] : (env.ports ?? []),
    allowPrivate: [...(env.allowPrivate ?? []), ...values["allow-private"]],
    connectionsPerMinute: values["connections-per-minute"] ?? env.connectionsPerMinute,
    concurrentStreams: values["concurrent-streams"] ?? env.concurrentStreams,
    bytesPerMinute: values["bytes-per-minute"] ?? env.bytesPerMinute,
    queriesPerMinute: values["queries-per-minute"] ?? env.queriesPerMinute,
  });
  const quiet = values.quiet;
  const relay = createRelay({
    ...settings,
    trustProxy: values["trust-proxy"],
    log: (line) => {
      if (!quiet || line.includes("refused")) console.log(line);
    },
  });
  const server = createServer((request, response) => {
    if (!relay.handleRequest(request, response)) response.writeHead(404).end("not found\n");
  });
  server.on("upgrade", (request, socket, head) => {
    if (!relay.handleUpgrade(request, socket, head)) socket.destroy();
  });
  server.listen(Number(values.port), values.host, () => {
    const address = server.address();
    if (address && typeof address === "object") {
      const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
      console.log(`relay listening on http://${host}:${address.port}/ (Wisp at /wisp/, DNS at /dns-query)`);
    }
    console.log(`allowlist: ${relay.policy.allowlist.entries.join(", ")}; ports ${[...relay.policy.ports].join(", ")}`);
  });
  const stop = () => {
    void relay.close();
    server.close(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

try {
  main();
} catch (error) {
  console.error(`relay: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(2);
}
