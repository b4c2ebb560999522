#!/usr/bin/env -S npx tsx
// `drydock`: the Node command line. `drydock daemon --host unix:///path.sock [--data-root DIR] [--no-guest]` boots the
// guest and serves the Docker Engine API on the socket.
import { parseArgs } from "node:util";
import { ContainerService } from "../container-service.ts";
import { DEFAULT_DATA_ROOT, startDaemon } from "./daemon.ts";
import { openNodeImageService } from "./images.ts";
import { bootDrydock } from "./index.ts";

const USAGE = "usage: drydock daemon --host unix:///path.sock [--data-root DIR] [--no-guest]";

async function daemon(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: "string", short: "H", default: "unix:///tmp/drydock.sock" },
      "data-root": { type: "string", default: DEFAULT_DATA_ROOT },
      "no-guest": { type: "boolean", default: false },
    },
  });
  const root = values["data-root"];
  const images = await openNodeImageService(root);
  const drydock = values["no-guest"] ? undefined : await bootDrydock();
  const containers = drydock ? ContainerService.open(drydock, images) : undefined;
  const served = await startDaemon({ host: values.host, images, containers, root });
  console.log(
    `drydock: API listening on unix://${served.socketPath}${drydock ? "" : " (no guest: containers cannot run)"}`,
  );
  const stop = async () => {
    await served.close();
    await drydock?.dispose();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

const [verb, ...rest] = process.argv.slice(2);
if (verb === "daemon") {
  daemon(rest).catch((error: unknown) => {
    console.error(`drydock: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
} else {
  console.error(USAGE);
  process.exit(verb === undefined || verb === "--help" || verb === "-h" ? 0 : 2);
}
