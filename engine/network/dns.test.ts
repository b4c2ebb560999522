import * as packet from "@dnsquery/dns-packet";
import { describe, expect, it } from "vitest";
import { answerDns, dnsServersUpstream } from "./dns.ts";
import { fakeTcpDnsServer } from "./fake-guest.ts";

const query = (name: string, type: "A" | "AAAA" = "A") =>
  packet.encode({ type: "query", id: 4242, flags: packet.RECURSION_DESIRED, questions: [{ type, name }] });
const names = (name: string) => (name === "web" || name === "www" ? ["172.18.0.2"] : undefined);
const rcode = (answer: Uint8Array) => answer[3]! & 15;

describe("the embedded resolver's answers", () => {
  it("answers A for a name on the asker's networks, case and trailing dot aside, with dockerd's TTL", async () => {
    const answer = packet.decode(await answerDns(query("WEB."), names));
    expect(answer).toMatchObject({ type: "response", id: 4242, rcode: "NOERROR" });
    expect(answer.answers).toEqual([expect.objectContaining({ type: "A", name: "WEB", ttl: 600, data: "172.18.0.2" })]);
  });

  it("answers AAAA for a known name with no records (no IPv6), not with a failure", async () => {
    const answer = await answerDns(query("www", "AAAA"), names);
    expect(rcode(answer)).toBe(0);
    expect(packet.decode(answer).answers).toEqual([]);
  });

  it("hands other names to the upstream as they are, and answers SERVFAIL without one", async () => {
    const asked: Uint8Array[] = [];
    const upstreamAnswer = new Uint8Array([1, 2, 3]);
    expect(
      await answerDns(query("deb.debian.org"), names, async (q) => {
        asked.push(q);
        return upstreamAnswer;
      }),
    ).toBe(upstreamAnswer);
    expect(asked).toEqual([query("deb.debian.org")]);
    const missing: string[] = [];
    const failed = await answerDns(query("deb.debian.org"), names, undefined, (name) => missing.push(name));
    expect(rcode(failed)).toBe(2);
    expect(packet.decode(failed).id).toBe(4242);
    expect(missing).toEqual(["deb.debian.org"]);
    // An upstream that fails is a SERVFAIL too.
    const broken = await answerDns(query("x.example"), names, () => Promise.reject(new Error("down")));
    expect(rcode(broken)).toBe(2);
  });

  it("answers a malformed message with FORMERR", async () => {
    const answer = await answerDns(new Uint8Array([0, 7, 1]), names);
    expect(rcode(answer)).toBe(1);
    expect(packet.decode(answer).id).toBe(7);
  });
});

describe("forwarding to --dns servers over TCP", () => {
  it("sends the query with its length, reads the answer back whole however it arrives, and asks the next server when one fails", async () => {
    const asked: string[] = [];
    const upstream = dnsServersUpstream(["10.0.0.1", "10.0.0.53"], async (ip, port) => {
      asked.push(`${ip}:${port}`);
      if (ip === "10.0.0.1") throw new Error("connection refused");
      return fakeTcpDnsServer({ "deb.debian.org": "10.9.8.7" }, 3);
    });
    const answer = packet.decode(await answerDns(query("deb.debian.org"), names, upstream));
    expect(asked).toEqual(["10.0.0.1:53", "10.0.0.53:53"]);
    expect(answer).toMatchObject({ id: 4242, rcode: "NOERROR" });
    expect(answer.answers).toEqual([expect.objectContaining({ type: "A", data: "10.9.8.7" })]);
    // Names the engine knows never leave it.
    asked.length = 0;
    expect(packet.decode(await answerDns(query("web"), names, upstream)).answers?.[0]?.data).toBe("172.18.0.2");
    expect(asked).toEqual([]);
  });

  it("says which servers failed, and the container gets SERVFAIL", async () => {
    const upstream = dnsServersUpstream(["10.0.0.1"], () => Promise.reject(new Error("connection refused")));
    await expect(upstream(query("x.example"))).rejects.toThrow("no DNS server answered (10.0.0.1: connection refused)");
    expect(rcode(await answerDns(query("x.example"), names, upstream))).toBe(2);
    // A server that hangs up before a whole answer is a failure too.
    const hangUp = dnsServersUpstream(["10.0.0.2"], async () => ({
      readable: new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new Uint8Array([0, 40, 1]));
          c.close();
        },
      }),
      writable: new WritableStream<Uint8Array>(),
    }));
    await expect(hangUp(query("x.example"))).rejects.toThrow("the connection closed before a whole answer");
  });
});
