// The agent client against a scripted guest (FakeMachine): framing, link and stream flow control, errors.
import { describe, expect, it } from "vitest";
import { FakeMachine } from "../vm/fake-machine.ts";
import { AgentClient } from "./client.ts";
import {
  Channel,
  encodeFrame,
  Field,
  Fields,
  type Frame,
  FrameDecoder,
  LINK_MAX_UNACKED_SENDS,
  LINK_SEND_SIZE,
  MAX_PAYLOAD,
  Msg,
  ParsedFields,
  PROTOCOL_VERSION,
  STREAM_WINDOW,
} from "./protocol.ts";

/** Plays drydockd: decodes what the engine sends and answers like the real agent would. */
class ScriptedGuest {
  readonly machine = new FakeMachine();
  readonly frames: Frame[] = [];
  autoAck = true;
  readonly #decoder = new FrameDecoder();
  #pendingAck = 0;

  constructor(readonly handle: (frame: Frame, guest: ScriptedGuest) => void = defaultBehaviour) {
    this.machine.onAgentSend = (bytes) => {
      // Like the virtio console, deliver each send on its own turn.
      queueMicrotask(() => {
        this.#pendingAck += bytes.length;
        if (this.autoAck) this.ack();
        for (const frame of this.#decoder.push(bytes)) {
          this.frames.push(frame);
          this.handle(frame, this);
        }
      });
    };
  }

  ack(): void {
    if (!this.#pendingAck) return;
    const payload = new Uint8Array(4);
    new DataView(payload.buffer).setUint32(0, this.#pendingAck, true);
    this.#pendingAck = 0;
    this.send(Msg.ACK, 0, payload);
  }

  send(type: number, stream: number, payload?: Uint8Array): void {
    this.machine.fromGuest(encodeFrame(type, stream, payload));
  }

  hello(stream: number): void {
    this.send(
      Msg.HELLO,
      stream,
      new Fields()
        .u32(Field.VERSION, PROTOCOL_VERSION)
        .string(Field.KERNEL, "6.1.0 fake")
        .string(Field.FEATURE, "pty")
        .string(Field.BOOT_ID, "b")
        .finish(),
    );
  }

  exit(stream: number, code: number): void {
    this.send(Msg.STDOUT, stream);
    this.send(Msg.STDERR, stream);
    const payload = new Uint8Array(5);
    new DataView(payload.buffer).setUint32(1, code, true);
    this.send(Msg.EXIT, stream, payload);
  }

  of(type: number): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }
}

function defaultBehaviour(frame: Frame, guest: ScriptedGuest): void {
  if (frame.type === Msg.SYNC) guest.hello(frame.stream);
  if (frame.type === Msg.PING) guest.send(Msg.PONG, frame.stream, frame.payload);
  if (frame.type === Msg.SPAWN) {
    const argv = new ParsedFields(frame.payload).strings(Field.ARG);
    guest.send(Msg.SPAWNED, frame.stream, new Fields().u32(Field.PID, 42).finish());
    if (argv[0] === "echo") {
      guest.send(Msg.STDOUT, frame.stream, new TextEncoder().encode(`${argv.slice(1).join(" ")}\n`));
      guest.exit(frame.stream, 0);
    }
    if (argv[0] === "flood") {
      // Exactly one window of output, as much as drydockd may send before the engine grants more.
      for (let sent = 0; sent < STREAM_WINDOW; sent += MAX_PAYLOAD) {
        guest.send(Msg.STDOUT, frame.stream, new Uint8Array(MAX_PAYLOAD).fill(7));
      }
    }
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

async function connected(guest = new ScriptedGuest()): Promise<{ guest: ScriptedGuest; agent: AgentClient }> {
  const agent = await AgentClient.connect(guest.machine.agentLink, { consoleTail: () => guest.machine.consoleTail() });
  return { guest, agent };
}

describe("framing", () => {
  it("reassembles frames split at any byte", () => {
    const frames = [encodeFrame(Msg.PONG, 7, Uint8Array.of(1, 2, 3)), encodeFrame(Msg.OK, 9)];
    const joined = new Uint8Array([...frames[0]!, ...frames[1]!]);
    for (let cut = 0; cut <= joined.length; cut++) {
      const decoder = new FrameDecoder();
      const got = [...decoder.push(joined.subarray(0, cut)), ...decoder.push(joined.subarray(cut))];
      expect(got.map((f) => [f.type, f.stream, [...f.payload]])).toEqual([
        [Msg.PONG, 7, [1, 2, 3]],
        [Msg.OK, 9, []],
      ]);
    }
  });

  it("refuses a frame longer than the protocol allows", () => {
    const header = encodeFrame(Msg.STDOUT, 1).slice(0, 12);
    new DataView(header.buffer).setUint32(0, MAX_PAYLOAD + 1, true);
    expect(() => new FrameDecoder().push(header)).toThrow(/frame of 32769 bytes .* the link is corrupt/);
  });

  it("round-trips fields", () => {
    const fields = new ParsedFields(
      new Fields()
        .string(Field.ARG, "a")
        .string(Field.ARG, "ü")
        .u32(Field.UID, 1000)
        .u64(Field.TIME, 2 ** 40)
        .finish(),
    );
    expect(fields.strings(Field.ARG)).toEqual(["a", "ü"]);
    expect(fields.u32(Field.UID)).toBe(1000);
    expect(fields.u64(Field.TIME)).toBe(2 ** 40);
  });
});

describe("connecting", () => {
  it("gives the guest the protocol version, the time and 64 fresh random bytes, then reads its hello", async () => {
    const { guest, agent } = await connected();
    const sync = new ParsedFields(guest.of(Msg.SYNC)[0]!.payload);
    expect(sync.u32(Field.VERSION)).toBe(PROTOCOL_VERSION);
    expect(Math.abs((sync.u64(Field.TIME) ?? 0) - Date.now())).toBeLessThan(5000);
    expect(sync.bytes(Field.ENTROPY)).toHaveLength(64);
    expect(agent.hello).toEqual({ version: PROTOCOL_VERSION, kernel: "6.1.0 fake", features: ["pty"], bootId: "b" });
  });

  it("on a cold boot says nothing until drydockd has announced itself", async () => {
    const guest = new ScriptedGuest();
    const connecting = AgentClient.connect(guest.machine.agentLink, { awaitStart: true });
    await tick();
    expect(guest.machine.agentSends).toEqual([]);
    guest.hello(0);
    await connecting;
    expect(guest.of(Msg.SYNC)).toHaveLength(1);
  });

  it("gives up with the console's last lines when drydockd does not answer", async () => {
    const guest = new ScriptedGuest(() => {});
    const connecting = AgentClient.connect(guest.machine.agentLink, {
      timeoutMs: 50,
      consoleTail: () => ["Kernel panic - not syncing: example"],
    });
    await expect(connecting).rejects.toMatchObject({
      kind: "unavailable",
      message: expect.stringMatching(/did not answer within 50 ms; the guest console ended with:\nKernel panic/),
    });
  });
});

describe("link flow control", () => {
  it("sends at most one page at a time and no more unacknowledged sends than the guest has buffers", async () => {
    const { guest, agent } = await connected();
    guest.autoAck = false;
    const sendsBefore = guest.machine.agentSends.length;
    const cat = await (async () => {
      const spawning = agent.spawn({ argv: ["cat"] });
      await tick();
      guest.ack();
      return spawning;
    })();
    const writer = cat.stdin.getWriter();
    void writer.write(new Uint8Array(STREAM_WINDOW));
    await tick();
    await tick();
    const sends = guest.machine.agentSends.slice(sendsBefore);
    expect(sends.every((s) => s.length <= LINK_SEND_SIZE)).toBe(true);
    const unacked = guest.machine.agentSends.length - sendsBefore - 1; // the SPAWN send was acknowledged
    expect(unacked).toBe(LINK_MAX_UNACKED_SENDS);
    guest.ack();
    await tick();
    await tick();
    expect(guest.machine.agentSends.length - sendsBefore - 1).toBeGreaterThan(LINK_MAX_UNACKED_SENDS);
  });
});

describe("processes", () => {
  it("collects output and the exit code", async () => {
    const { agent } = await connected();
    expect(await agent.run(["echo", "hello", "world"])).toEqual({ stdout: "hello world\n", stderr: "", code: 0 });
  });

  it("asks for the seccomp profile with the capability mask it is computed for, and for none without it", async () => {
    const { guest, agent } = await connected();
    await agent.spawn({ argv: ["cat"], seccomp: 0xa80425fbn });
    await agent.spawn({ argv: ["cat"] });
    await tick();
    const spawns = guest.of(Msg.SPAWN).map((f) => new ParsedFields(f.payload));
    expect(spawns.map((fields) => fields.u64(Field.SECCOMP))).toEqual([0xa80425fb, undefined]);
  });

  it("grants output credit only as the reader consumes it", async () => {
    const { guest, agent } = await connected();
    const flood = await agent.spawn({ argv: ["flood"] });
    await tick();
    expect(guest.of(Msg.CREDIT)).toEqual([]);
    const reader = flood.stdout.getReader();
    let read = 0;
    while (read < STREAM_WINDOW) read += (await reader.read()).value?.length ?? 0;
    await tick();
    const granted = guest
      .of(Msg.CREDIT)
      .filter((f) => f.payload[0] === Channel.STDOUT)
      .reduce((sum, f) => sum + new DataView(f.payload.buffer, f.payload.byteOffset).getUint32(1, true), 0);
    expect(granted).toBe(STREAM_WINDOW);
  });

  it("sends no more input than the guest has credited", async () => {
    const { guest, agent } = await connected();
    const cat = await agent.spawn({ argv: ["cat"] });
    void cat.stdin.getWriter().write(new Uint8Array(100_000));
    await tick();
    await tick();
    const inputBytes = () => guest.of(Msg.INPUT).reduce((sum, f) => sum + f.payload.length, 0);
    expect(inputBytes()).toBe(STREAM_WINDOW);
    const credit = new Uint8Array(5);
    credit[0] = Channel.INPUT;
    new DataView(credit.buffer).setUint32(1, 40_000, true);
    guest.send(Msg.CREDIT, guest.of(Msg.SPAWN)[0]!.stream, credit);
    await tick();
    await tick();
    expect(inputBytes()).toBe(100_000);
  });

  it("turns the guest's errno into an error kind and keeps its message", async () => {
    const guest = new ScriptedGuest((frame, g) => {
      if (frame.type === Msg.SYNC) g.hello(frame.stream);
      if (frame.type === Msg.SPAWN) {
        g.send(
          Msg.ERROR,
          frame.stream,
          new Fields().u32(Field.ERRNO, 2).string(Field.MESSAGE, "exec nope: No such file or directory").finish(),
        );
      }
    });
    const { agent } = await connected(guest);
    await expect(agent.spawn({ argv: ["nope"] })).rejects.toMatchObject({
      kind: "notFound",
      message: "exec nope: No such file or directory",
    });
  });

  it("fails what is in flight when drydockd announces itself again", async () => {
    const { guest, agent } = await connected();
    const cat = await agent.spawn({ argv: ["cat"] });
    guest.hello(0);
    await expect(cat.exit).rejects.toThrow(/drydockd restarted in the guest; the guest console ended with/);
    await expect(agent.ping()).rejects.toThrow(/drydockd restarted/);
  });

  it("fails what is in flight when the link carries garbage", async () => {
    const { guest, agent } = await connected();
    const cat = await agent.spawn({ argv: ["cat"] });
    guest.machine.fromGuest(new Uint8Array(12).fill(0xff));
    await expect(cat.exit).rejects.toMatchObject({ kind: "dataLoss" });
  });
});

describe("parked processes", () => {
  /** Plays drydockd's PARK and ADOPT: one parked process at a time, its prompt kept until adopted. */
  function parkingGuest(): ScriptedGuest {
    let parked: string | undefined;
    return new ScriptedGuest((frame, g) => {
      const fields = new ParsedFields(frame.payload);
      if (frame.type === Msg.SYNC) g.hello(frame.stream);
      if (frame.type === Msg.SPAWN) {
        g.send(Msg.SPAWNED, frame.stream, new Fields().u32(Field.PID, 7).finish());
        parked = fields.string(Field.PARK);
        // Ready once it has printed something.
        if (parked) g.send(Msg.OK, frame.stream);
      }
      if (frame.type === Msg.ADOPT) {
        if (fields.string(Field.PARK) !== parked) {
          g.send(Msg.ERROR, frame.stream, new Fields().u32(Field.ERRNO, 2).string(Field.MESSAGE, "none").finish());
          return;
        }
        parked = undefined;
        g.send(Msg.SPAWNED, frame.stream, new Fields().u32(Field.PID, 7).finish());
        g.send(Msg.STDOUT, frame.stream, new TextEncoder().encode("$ "));
      }
    });
  }

  it("parks a process under a key and resolves with its pid once it is ready", async () => {
    const { guest, agent } = await connected(parkingGuest());
    expect(await agent.park("login", { argv: ["sh"], pty: { rows: 24, cols: 80 } })).toBe(7);
    const spawn = new ParsedFields(guest.of(Msg.SPAWN)[0]!.payload);
    expect(spawn.string(Field.PARK)).toBe("login");
    expect(spawn.strings(Field.ARG)).toEqual(["sh"]);
  });

  it("adopts it on a terminal of the asked size, its output from the start, once", async () => {
    const { guest, agent } = await connected(parkingGuest());
    await agent.park("login", { argv: ["sh"], pty: { rows: 24, cols: 80 } });
    const shell = await agent.adopt("login", { pty: { rows: 40, cols: 120 } });
    expect(shell.pid).toBe(7);
    const adopt = guest.of(Msg.ADOPT)[0]!;
    const size = new ParsedFields(adopt.payload).bytes(Field.PTY)!;
    expect([...size]).toEqual([40, 0, 120, 0]);
    const { value } = await shell.stdout.getReader().read();
    expect(new TextDecoder().decode(value)).toBe("$ ");
    await expect(agent.adopt("login")).rejects.toMatchObject({ kind: "notFound" });
  });
});
