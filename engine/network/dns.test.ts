import * as packet from "@dnsquery/dns-packet";
import { describe, expect, it } from "vitest";
import { answerDns } from "./dns.ts";

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
