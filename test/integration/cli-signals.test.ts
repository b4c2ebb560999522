// Signals and the detach keys through the real guest's `docker` command: Ctrl-C (a SIGINT to the applet) reaches the
// container through the CLI's signal proxy, and Ctrl-P Ctrl-Q on a terminal leaves an -it container running.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GuestProcess } from "../../engine/agent/index.ts";
import type { ContainerService, Drydock } from "../../engine/index.ts";
import { type GuestDockerFixture, startGuestDocker } from "../fixtures/guest-docker.ts";

const ENV = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=xterm"];
const SIGINT = 2;

let guest: GuestDockerFixture;
let drydock: Drydock;
let containers: ContainerService;
let busybox: string;

beforeAll(async () => {
  guest = await startGuestDocker();
  ({ drydock, containers, busybox } = guest);
});

afterAll(() => guest?.stop());

/** Everything a process prints, as it comes, and a way to wait for a pattern in it. */
function screen(proc: GuestProcess) {
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  return {
    text: () => text,
    async waitFor(pattern: RegExp): Promise<void> {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the output ended before ${pattern}: ${JSON.stringify(text)}`);
        text += decoder.decode(value, { stream: true });
      }
    },
    async rest(): Promise<string> {
      for (let next = await reader.read(); !next.done; next = await reader.read())
        text += decoder.decode(next.value, { stream: true });
      return text;
    },
  };
}

function state(name: string) {
  return containers.list({ all: true }).find((container) => container.name === name)?.status;
}

describe("signals through the guest's docker", () => {
  it("a SIGINT to `docker run` (no tty) reaches the container, which decides how it ends; docker exits with its code", async () => {
    const proc = await drydock.agent.spawn({
      argv: [
        "docker",
        "run",
        "--name",
        "pinger",
        busybox,
        "sh",
        "-c",
        'trap "echo got-int; exit 3" INT; echo ready; while :; do sleep 1; done',
      ],
      env: ENV,
    });
    try {
      const out = screen(proc);
      await out.waitFor(/ready\n/);
      proc.kill(SIGINT);
      const status = await proc.exit;
      expect(await out.rest()).toBe("ready\ngot-int\n");
      expect(status.code).toBe(3);
      expect(state("pinger")).toBe("exited");
      expect(containers.inspect("pinger").exit?.code).toBe(3);
    } finally {
      await containers.remove("pinger", { force: true }).catch(() => {});
    }
  });

  it("Ctrl-P Ctrl-Q on `docker run -it` detaches: docker exits 0 and the container keeps running", async () => {
    const proc = await drydock.agent.spawn({
      argv: ["sh", "-c", `docker run -it --name detacher ${busybox} sh; echo docker exited $?`],
      env: ENV,
      pty: { rows: 24, cols: 80 },
    });
    try {
      const out = screen(proc);
      const writer = proc.stdin.getWriter();
      await out.waitFor(/\/ # /);
      await writer.write(new TextEncoder().encode("echo in-$((6*7))\r"));
      await out.waitFor(/in-42/);
      // Two keystrokes, as a person types them.
      await writer.write(new Uint8Array([0x10]));
      await new Promise((resolve) => setTimeout(resolve, 300));
      await writer.write(new Uint8Array([0x11]));
      await out.waitFor(/docker exited \d+/);
      expect(out.text()).toMatch(/docker exited 0/);
      expect((await proc.exit).code).toBe(0);
      expect(state("detacher")).toBe("running");
      // Still alive: its shell kept its stdin (a detach is not an end of input) and an exec still runs in it.
      const exec = await drydock.agent.run(["docker", "exec", "detacher", "echo", "still-here"], { env: ENV });
      expect(exec.stdout).toBe("still-here\n");
    } finally {
      await containers.remove("detacher", { force: true }).catch(() => {});
    }
  });
});
