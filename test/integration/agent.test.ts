// drydockd and the Machine API against the real guest, restored once from its saved state.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Msg } from "../../engine/agent/protocol.ts";
import { Drydock, type GuestProcess, isEngineError } from "../../engine/index.ts";
import { bootDrydock, ensureSavedState, loadGuestArtifacts, v86WasmPath } from "../../engine/node/index.ts";

let drydock: Drydock;

beforeAll(async () => {
  drydock = await bootDrydock();
});

afterAll(async () => {
  await drydock?.dispose();
});

/** Reads a pty's output until `pattern` shows up; returns everything read so far. */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, pattern: RegExp): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  while (!pattern.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the stream ended before ${pattern}; it said:\n${text}`);
    text += decoder.decode(value, { stream: true });
  }
  return text;
}

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  while (!(await reader.read()).done) {}
}

async function shellOnPty(
  rows = 24,
  cols = 80,
): Promise<{ proc: GuestProcess; type: (text: string) => Promise<void> }> {
  const proc = await drydock.spawn("sh", [], { pty: { rows, cols }, env: ["PATH=/bin:/sbin", "PS1=$ ", "TERM=dumb"] });
  const writer = proc.stdin.getWriter();
  return { proc, type: (text) => writer.write(new TextEncoder().encode(text)) };
}

describe("the learner's shell, parked in the saved state", () => {
  it("is adopted after the restore: at its prompt already, on a terminal of the asked size, the same process", async () => {
    const { process, adopted, reason } = await drydock.openLoginShell(30, 100);
    expect(reason).toBeUndefined();
    expect(adopted).toBe(true);
    const reader = process.stdout.getReader();
    const writer = process.stdin.getWriter();
    // The profile ran before the save: the prompt names /root.
    await readUntil(reader, /drydock:~# /);
    await writer.write(new TextEncoder().encode("echo pid=$$ size=$(stty size) term=$TERM\n"));
    const said = await readUntil(reader, /pid=\d+ size=\d+ \d+ term=\S+\r?\n/);
    expect(said).toContain(`pid=${process.pid} size=30 100 term=xterm-256color`);
    await writer.write(new TextEncoder().encode("exit 3\n"));
    await drain(reader);
    expect((await process.exit).code).toBe(3);
  });

  it("is adopted once; the next login shell is spawned, and says why", async () => {
    const { process, adopted, reason } = await drydock.openLoginShell(24, 80);
    expect(adopted).toBe(false);
    expect(reason).toMatch(/no process is parked under login/);
    const reader = process.stdout.getReader();
    await readUntil(reader, /drydock:~# /);
    process.kill(9);
    await drain(reader);
    expect((await process.exit).signal).toBe(9);
  });

  it("is adopted together with the hello when the boot asks for it, then takes the terminal's size", async () => {
    const guest = await Drydock.boot({
      artifacts: await loadGuestArtifacts(),
      wasmPath: v86WasmPath(),
      state: (await ensureSavedState()).state,
      loginShell: true,
    });
    try {
      const { process, adopted } = await guest.openLoginShell(33, 90);
      expect(adopted).toBe(true);
      const reader = process.stdout.getReader();
      await readUntil(reader, /drydock:~# /);
      await process.stdin.getWriter().write(new TextEncoder().encode("echo size=$(stty size)\n"));
      expect(await readUntil(reader, /size=\d+ \d+\r?\n/)).toContain("size=33 90");
    } finally {
      await guest.dispose();
    }
  });

  it("refuses to adopt what was never parked", async () => {
    const error = await drydock.agent.adopt("nothing here").catch((e: unknown) => e);
    expect(isEngineError(error) && error.kind).toBe("notFound");
  });
});

describe("the agent says who it is", () => {
  it("speaks protocol 5 on the guest kernel, with a boot id and the confinement features", () => {
    expect(drydock.agent.hello.version).toBe(5);
    expect(drydock.agent.hello.kernel).toMatch(/^6\.1\./);
    expect(drydock.agent.hello.features).toEqual(
      expect.arrayContaining([
        "pty",
        "namespaces",
        "fs",
        "listen",
        "capabilities",
        "enter",
        "device-filter",
        "network",
        "park",
        "seccomp",
        "vxlan",
      ]),
    );
    expect(drydock.agent.hello.bootId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("gives the restored guest the engine's clock", async () => {
    const { stdout } = await drydock.agent.run(["date", "+%s"]);
    expect(Math.abs(Number(stdout) - Date.now() / 1000)).toBeLessThan(30);
  });
});

describe("exit codes and signals", () => {
  it("reports an exit code exactly", async () => {
    const result = await drydock.agent.run(["sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(result).toEqual({ stdout: "out\n", stderr: "err\n", code: 3 });
  });

  it("reports a process killed by SIGTERM as a signal", async () => {
    const proc = await drydock.spawn("sleep", ["100"]);
    proc.kill(15);
    expect(await proc.exit).toEqual({ code: 143, signal: 15 });
  });

  it("refuses a command that does not exist, naming it", async () => {
    await expect(drydock.spawn("no-such-command")).rejects.toMatchObject({
      kind: "notFound",
      message: expect.stringMatching(/exec no-such-command: No such file or directory/),
    });
  });
});

describe("stdio is delivered intact", () => {
  it("carries 10 MB from a guest process without losing a byte", async () => {
    const proc = await drydock.spawn("sh", [
      "-c",
      "dd if=/dev/urandom of=/tmp/ten bs=65536 count=160 2>/dev/null && sha256sum /tmp/ten >&2 && cat /tmp/ten && rm /tmp/ten",
    ]);
    proc.stdin.close();
    const [out, err, status] = await Promise.all([
      new Response(proc.stdout).arrayBuffer(),
      new Response(proc.stderr).text(),
      proc.exit,
    ]);
    expect(status.code).toBe(0);
    expect(out.byteLength).toBe(10 * 1024 * 1024);
    expect(err.split(" ")[0]).toBe(createHash("sha256").update(new Uint8Array(out)).digest("hex"));
  });

  it("sends 1 MB to cat and gets it back unchanged", async () => {
    const data = new Uint8Array(1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    const { stdout, code } = await drydock.agent.run(["sha256sum"], { input: data });
    expect(code).toBe(0);
    expect(stdout.split(" ")[0]).toBe(createHash("sha256").update(data).digest("hex"));
    const proc = await drydock.spawn("cat");
    const writing = (async () => {
      const writer = proc.stdin.getWriter();
      await writer.write(data);
      await writer.close();
    })();
    const back = new Uint8Array(await new Response(proc.stdout).arrayBuffer());
    await writing;
    expect(back.length).toBe(data.length);
    expect(Buffer.compare(back, data)).toBe(0);
  });
});

describe("ptys", () => {
  it("answers stty size with the size set by resize()", async () => {
    const { proc, type } = await shellOnPty(24, 80);
    const reader = proc.stdout.getReader();
    await readUntil(reader, /\$ /);
    proc.resize(40, 132);
    await type("stty size\n");
    expect(await readUntil(reader, /40 132/)).toContain("40 132");
    await type("exit\n");
    await drain(reader);
    expect((await proc.exit).code).toBe(0);
  });

  it("delivers Ctrl-C to the foreground process", async () => {
    const { proc, type } = await shellOnPty();
    const reader = proc.stdout.getReader();
    await readUntil(reader, /\$ /);
    await type("sleep 100\n");
    await new Promise((resolve) => setTimeout(resolve, 300));
    // An interactive shell drops the rest of a command line on SIGINT, so ask for the status on its own line.
    await type("\x03");
    await readUntil(reader, /\^C[\s\S]*\$ /);
    await type("echo status=$?\n");
    expect(await readUntil(reader, /status=\d+/)).toMatch(/status=130/);
    proc.kill(9);
    await drain(reader);
    expect(await proc.exit).toEqual({ code: 137, signal: 9 });
  });
});

describe("a terminal's cursor report", () => {
  it("is dropped when it reaches a pty in line mode (nobody asked: it would be echoed as ^[[20;12R), kept in raw mode", async () => {
    const { proc, type } = await shellOnPty();
    const reader = proc.stdout.getReader();
    await readUntil(reader, /\$ /);
    // cat reads in line mode, as a shell's next command does when the answer to its prompt's question comes late.
    await type("echo go; cat\n");
    await readUntil(reader, /\r\ngo\r\n/);
    await type("\x1b[20;12R");
    await type("after\n");
    const seen = await readUntil(reader, /after\r\nafter\r\n/);
    expect(seen).not.toContain("20;12R");
    await type("\x04");
    await readUntil(reader, /\$ /);
    // A program that reads raw (a line editor, vi) gets the answer it asked for, byte for byte.
    await type("stty raw -echo; echo ready; head -c 8 | od -An -c; stty sane\n");
    await readUntil(reader, /ready\r?\n/);
    await type("\x1b[20;12R");
    expect(await readUntil(reader, /R\s*\r?\n/)).toMatch(/033\s+\[\s+2\s+0\s+;\s+1\s+2\s+R/);
    proc.kill(9);
    await drain(reader);
  });
});

describe("many processes", () => {
  async function guestResources(): Promise<{ fds: number; zombies: number }> {
    const { stdout } = await drydock.agent.run([
      "sh",
      "-c",
      "ls /proc/$(pidof drydockd)/fd | wc -l; grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l",
    ]);
    const [fds, zombies] = stdout.trim().split("\n").map(Number);
    return { fds: fds!, zombies: zombies! };
  }

  it("runs 20 processes at once", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => drydock.agent.run(["sh", "-c", `sleep 0.5; echo ${i}`])),
    );
    expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    expect(results.every((r) => r.code === 0)).toBe(true);
  });

  it("runs 1000 processes one after another without leaking fds or zombies", async () => {
    const before = await guestResources();
    for (let i = 0; i < 1000; i++) {
      const { code } = await drydock.agent.run(["true"]);
      if (code !== 0) expect.fail(`spawn ${i} exited with ${code}`);
    }
    expect(await guestResources()).toEqual(before);
    expect(before.zombies).toBe(0);
  }, 300_000);
});

describe("the filesystem requests", () => {
  it("writes, stats, lists, reads and removes files", async () => {
    const agent = drydock.agent;
    await agent.mkdir("/tmp/fs-test/sub", { parents: true });
    const bytes = new Uint8Array(100_000).map((_, i) => i % 251);
    await agent.writeFile("/tmp/fs-test/sub/data.bin", bytes, 0o600);
    const stat = await agent.stat("/tmp/fs-test/sub/data.bin");
    expect(stat).toMatchObject({ size: 100_000, isFile: true, mode: 0o100600 });
    expect((await agent.readdir("/tmp/fs-test")).map((e) => e.name)).toEqual(["sub"]);
    expect(Buffer.compare(await agent.readFile("/tmp/fs-test/sub/data.bin"), bytes)).toBe(0);
    await agent.remove("/tmp/fs-test", { recursive: true });
    await expect(agent.stat("/tmp/fs-test")).rejects.toMatchObject({ kind: "notFound" });
  });

  it("lists a directory longer than one message", async () => {
    await drydock.agent.run([
      "sh",
      "-c",
      "mkdir -p /tmp/many && cd /tmp/many && for i in $(seq 1 1500); do : > file-$i; done",
    ]);
    const names = (await drydock.agent.readdir("/tmp/many")).map((e) => e.name);
    expect(names).toHaveLength(1500);
    expect(new Set(names).size).toBe(1500);
    await drydock.agent.remove("/tmp/many", { recursive: true });
  });
});

describe("forwarded unix sockets", () => {
  it("hands a guest client's connection to the engine", async () => {
    await drydock.agent.listen("/tmp/echo.sock", (conn) => {
      void (async () => {
        const request = await new Response(conn.readable).text();
        const writer = conn.writable.getWriter();
        await writer.write(new TextEncoder().encode(`engine got: ${request}`));
        await writer.close();
      })();
    });
    const { stdout } = await drydock.agent.run(["sh", "-c", "echo hello | drydockd connect /tmp/echo.sock"]);
    expect(stdout).toBe("engine got: hello\n");
  });
});

describe("bad input", () => {
  it("answers an unknown message type with an error and keeps working", async () => {
    await expect(drydock.agent.requestRaw(0x7e, new Uint8Array(0))).rejects.toThrow(/unknown message type 0x7e/);
    expect(await drydock.agent.ping()).toBeGreaterThan(0);
  });

  it("skips an oversized frame with an error and keeps working", async () => {
    const oversized = drydock.agent.requestRaw(Msg.PING, new Uint8Array(40_000));
    await expect(oversized).rejects.toThrow(/a frame of 40000 bytes exceeds the limit of 32768; it was skipped/);
    expect(await drydock.agent.ping()).toBeGreaterThan(0);
    const { stdout } = await drydock.agent.run(["echo", "still here"]);
    expect(stdout).toBe("still here\n");
  });

  it("refuses a protocol version it does not speak", async () => {
    const { Fields, Field } = await import("../../engine/agent/protocol.ts");
    const sync = new Fields().u32(Field.VERSION, 99).finish();
    const error = await drydock.agent.requestRaw(Msg.SYNC, sync).catch((e: unknown) => e);
    expect(isEngineError(error) && error.message).toMatch(/protocol version 99, drydockd speaks version 5/);
    expect(await drydock.agent.ping()).toBeGreaterThan(0);
  });
});
