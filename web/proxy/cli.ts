// `npm run proxy -- [options]`: the registry proxy as a standalone server, for a classroom machine or a deployment
// next to the static site. Run with `--help` for the options.

import { parseArgs } from "node:util";
import { serve } from "@hono/node-server";
import { DEFAULT_UPSTREAMS, isValidAlias, type UpstreamConfig } from "./names.ts";
import { createNodeProxy } from "./node.ts";

const HELP = `Usage: npm run proxy -- [options]

A read-only, caching CORS proxy for container registries. Clients use it as a registry:
  <proxy>/v2/<alias>/<name>/...   goes to <name> on the upstream configured as <alias>
  <proxy>/v2/<name>/...           goes to Docker Hub (library/<name> for official images)

Options:
  --port <n>                 port to listen on (default 5080; 0 picks a free one)
  --host <address>           address to listen on (default 127.0.0.1; 0.0.0.0 for a classroom)
  --upstream <alias>=<url>   add or replace an upstream; may repeat. Upstreams given here may be on private or
                             loopback addresses (e.g. --upstream local=http://127.0.0.1:5000)
  --no-default-upstreams     only the upstreams given with --upstream (defaults: ${Object.keys(DEFAULT_UPSTREAMS).join(", ")})
  --allow-push <alias>       relay pushes to this upstream (with each client's own credentials, never kept);
                             may repeat. Without it the proxy is read-only
  --allow-private-host <h>   also allow host[:port] on a private address (e.g. a local registry's token server)
  --cache-dir <dir>          keep the blob cache in this directory (default: in memory)
  --cache-max-bytes <n>      cache size bound; suffixes K, M, G (default 512M in memory, 10G on disk)
  --no-cache                 do not cache
  --public-url <url>         the proxy's public URL, used in token realms (default: from each request)
  --requests-per-minute <n>  per-client rate limit (default 1200)
  --quiet                    do not log requests
  --help                     show this help
`;

function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)i?B?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  const unit = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as "" | "K" | "M" | "G"];
  return Math.floor(Number(m[1]) * unit);
}

function main(): void {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "5080" },
      host: { type: "string", default: "127.0.0.1" },
      upstream: { type: "string", multiple: true, default: [] },
      "no-default-upstreams": { type: "boolean", default: false },
      "allow-private-host": { type: "string", multiple: true, default: [] },
      "allow-push": { type: "string", multiple: true, default: [] },
      "cache-dir": { type: "string" },
      "cache-max-bytes": { type: "string" },
      "no-cache": { type: "boolean", default: false },
      "public-url": { type: "string" },
      "requests-per-minute": { type: "string" },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const upstreams: Record<string, UpstreamConfig> = values["no-default-upstreams"] ? {} : { ...DEFAULT_UPSTREAMS };
  for (const spec of values.upstream) {
    const eq = spec.indexOf("=");
    const alias = spec.slice(0, eq);
    const url = spec.slice(eq + 1);
    if (eq <= 0 || !isValidAlias(alias) || !/^https?:\/\//.test(url)) {
      throw new Error(`--upstream wants <alias>=<http(s) url>, got ${spec}`);
    }
    // Naming an upstream on the command line is the explicit configuration that lets it be a private address.
    upstreams[alias] = { url, allowPrivate: true };
  }
  for (const alias of values["allow-push"]) {
    const upstream = upstreams[alias];
    if (!upstream) throw new Error(`--allow-push ${alias}: no upstream is configured as ${alias}`);
    upstreams[alias] = { ...upstream, allowPush: true };
  }
  const requestsPerMinute = values["requests-per-minute"] ? Number(values["requests-per-minute"]) : undefined;
  const app = createNodeProxy({
    upstreams,
    allowPrivateHosts: values["allow-private-host"],
    ...(values["no-cache"] ? { cache: false } : {}),
    ...(values["cache-dir"] ? { cacheDir: values["cache-dir"] } : {}),
    ...(values["cache-max-bytes"] ? { cacheMaxBytes: parseBytes(values["cache-max-bytes"]) } : {}),
    ...(values["public-url"] ? { publicUrl: values["public-url"] } : {}),
    ...(requestsPerMinute
      ? { limits: { requestsPerMinute, burst: Math.max(1, Math.ceil(requestsPerMinute / 4)) } }
      : {}),
  });
  const quiet = values.quiet;
  const server = serve(
    {
      hostname: values.host,
      port: Number(values.port),
      fetch: async (request, env) => {
        const started = performance.now();
        const response = await app.fetch(request, env);
        if (!quiet) {
          const cache = response.headers.get("x-drydock-cache");
          const ms = (performance.now() - started).toFixed(0);
          console.log(
            `${request.method} ${new URL(request.url).pathname} ${response.status} ${ms}ms${cache ? ` ${cache}` : ""}`,
          );
        }
        return response;
      },
    },
    (info) => {
      const host = info.family === "IPv6" ? `[${info.address}]` : info.address;
      console.log(`registry proxy listening on http://${host}:${info.port}/`);
      console.log(
        `upstreams: ${Object.entries(upstreams)
          .map(([alias, u]) => `${alias}=${u.url}`)
          .join(" ")}`,
      );
    },
  );
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

try {
  main();
} catch (error) {
  console.error(`registry proxy: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(2);
}
