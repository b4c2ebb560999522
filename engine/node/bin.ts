#!/usr/bin/env -S npx tsx
// `drydock`: the Node command line. `drydock daemon --host unix:///path.sock [--data-root DIR] [--no-guest]
// [--relay URL] [--nodes N] [--allow-bind DIR …]` (host directories under an allowed DIR may be bound into containers) (N guests on one switch: node 1 on the socket, node k on <socket>.node<k>) boots the guest (its containers going out through the relay, if given) and serves the Docker Engine
// API on the socket; `drydock <verb> …` is the docker CLI (engine/cli) against a
// daemon: -H, then DOCKER_HOST, then unix:///tmp/drydock.sock (where `drydock daemon` listens by default).
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runCli } from "../cli/index.ts";
import { MAX_NODES } from "../cluster/index.ts";
import { ContainerService } from "../container-service.ts";
import { NO_RELAY_MESSAGE } from "../network/relay.ts";
import { GuestSupervisor } from "../supervisor/index.ts";
import { VolumeTree } from "../volumes/index.ts";
import { processCliIO, unixConnector } from "./cli.ts";
import { DEFAULT_DATA_ROOT, startDaemon } from "./daemon.ts";
import { type DataRootLock, lockDataRoot } from "./data-root-lock.ts";
import { HostBinds } from "./host-binds.ts";
import { openNodeImageService } from "./images.ts";
import { bootDrydock } from "./index.ts";
import { startNodeDaemons } from "./nodes.ts";
import { FsVolumeDataStore } from "./volume-data.ts";
import { nodeWasiWorkers } from "./wasi.ts";
import { workspaceCommand } from "./workspace.ts";

/** A `--relay` value: the relay's http(s) base URL (`npm run relay` prints it; `npm run dev` serves one at /relay). */
function parseRelayUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`--relay wants the relay's URL, such as http://127.0.0.1:8090, got ${text}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`--relay wants an http:// or https:// URL (the relay's base, not its /wisp/), got ${text}`);
  }
  return url.href.replace(/\/+$/, "");
}

/** Where `drydock daemon` listens and `drydock <verb>` looks, unless told otherwise. */
const DEFAULT_HOST = "unix:///tmp/drydock.sock";

async function daemon(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: "string", short: "H", default: DEFAULT_HOST },
      "data-root": { type: "string", default: DEFAULT_DATA_ROOT },
      "no-guest": { type: "boolean", default: false },
      relay: { type: "string" },
      nodes: { type: "string", default: "1" },
      "allow-bind": { type: "string", multiple: true, default: [] },
    },
  });
  const count = Number(values.nodes);
  if (!Number.isInteger(count) || count < 1 || count > MAX_NODES) {
    throw new Error(`--nodes wants a whole number of guests from 1 to ${MAX_NODES}, got ${values.nodes}`);
  }
  if (count > 1 && values["no-guest"]) throw new Error("--nodes starts guests: it cannot go with --no-guest");
  // Host directories are offered to containers only when named; with none, a bind of a host path is refused.
  const hostBinds = await HostBinds.open(values["allow-bind"]);
  const relay = values.relay ? { url: parseRelayUrl(values.relay) } : undefined;
  const root = values["data-root"];
  // One daemon per data root: a second one would write over the first one's volumes and records.
  const lock = await lockDataRoot(root, "drydock daemon");
  const images = await openNodeImageService(root);
  if (count > 1) {
    await serveNodes(count, values.host, images, root, relay, lock, hostBinds);
    return;
  }
  // Volume files under <data-root>/volumes: they outlive the guest and the daemon.
  const volumes = await VolumeTree.open(new FsVolumeDataStore(join(root, "volumes")), {
    onError: (error) => console.error(`drydock: saving a volume failed: ${String(error)}`),
  });
  const supervisor = values["no-guest"]
    ? undefined
    : await GuestSupervisor.start({
        boot: () => bootDrydock(relay ? { relay } : {}),
        open: (drydock) =>
          ContainerService.open(drydock, images, {
            wasiWorkers: nodeWasiWorkers(),
            volumes,
            hostBinds: { resolver: hostBinds, tree: hostBinds.tree },
          }),
      });
  // A guest that fails (drydockd killed, a kernel panic) is reported at once and replaced by a fresh one.
  supervisor?.onFault((fault) =>
    console.error(`drydock: the guest failed: ${fault.message}\ndrydock: restoring a fresh guest`),
  );
  supervisor?.onRestore(() =>
    console.error(
      "drydock: a fresh guest is running (images, volumes and containers kept; the failed guest's running containers are exited)",
    ),
  );
  const served = await startDaemon({ host: values.host, images, supervisor, root });
  console.log(
    `drydock: API listening on unix://${served.socketPath}${supervisor ? "" : " (no guest: containers cannot run)"}`,
  );
  console.log(relay ? `drydock: containers go out through the relay at ${relay.url}` : `drydock: ${NO_RELAY_MESSAGE}`);
  if (hostBinds.given.length)
    console.log(`drydock: containers may bind host directories under ${hostBinds.given.join(", ")}`);
  const stop = async () => {
    // The container records are written before the process goes (they are read back at the next start).
    await supervisor?.containers.close().catch((error: unknown) => console.error(`drydock: ${String(error)}`));
    await served.close();
    await supervisor?.dispose();
    await volumes.close();
    await lock.release();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

/** `--nodes N`: N guests on one switch, node 1 on `--host`, node k on `<host>.node<k>`. */
async function serveNodes(
  count: number,
  host: string,
  images: Awaited<ReturnType<typeof openNodeImageService>>,
  root: string,
  relay: { url: string } | undefined,
  lock: DataRootLock,
  hostBinds: HostBinds,
): Promise<void> {
  const served = await startNodeDaemons({
    count,
    host,
    images,
    root,
    ...(relay ? { relay } : {}),
    ...(hostBinds.given.length ? { allowBind: hostBinds.given } : {}),
    onFault: (node, message) =>
      console.error(`drydock: ${node.name}'s guest failed: ${message}\ndrydock: restoring a fresh guest`),
    onRestore: (node) => console.error(`drydock: a fresh guest is running as ${node.name}`),
  });
  for (const { identity, daemon } of served.nodes) {
    console.log(`drydock: ${identity.name} (${identity.address}) API listening on unix://${daemon.socketPath}`);
  }
  console.log(relay ? `drydock: containers go out through the relay at ${relay.url}` : `drydock: ${NO_RELAY_MESSAGE}`);
  if (hostBinds.given.length)
    console.log(`drydock: containers on every node may bind host directories under ${hostBinds.given.join(", ")}`);
  const stop = async () => {
    await served.close();
    await lock.release();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

const [verb, ...rest] = process.argv.slice(2);
if (verb === "workspace") {
  workspaceCommand(rest, {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: (line) => console.error(line),
  }).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`drydock: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
} else if (verb === "daemon") {
  daemon(rest).catch((error: unknown) => {
    console.error(`drydock: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
} else {
  if (verb === undefined || verb === "--help" || verb === "-h") {
    console.log(
      "drydock daemon --host unix:///path.sock [--data-root DIR] [--no-guest] [--relay URL] [--nodes N] [--allow-bind DIR]…   serve the Engine API",
    );
    console.log(
      "drydock workspace export|import --data-root DIR > file.tar | < file.tar   a data root as one file (daemon stopped)",
    );
    console.log("drydock <docker command> …                                               the docker CLI against it");
  }
  runCli(process.argv.slice(2), processCliIO(), unixConnector(DEFAULT_HOST)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`drydock: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(125);
    },
  );
}
