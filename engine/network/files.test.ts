import { describe, expect, it } from "vitest";
import { addHostsEntry, hostsFile, removeHostsEntry } from "./files.ts";

describe("a running container's /etc/hosts edited at network connect and disconnect", () => {
  const started = hostsFile("3f2a1b4c5d6e", ["172.17.0.2"], [{ host: "db", ip: "10.0.0.5" }]);

  it("adds the new network's address under the hostname at the end, the rest as it was", () => {
    const connected = addHostsEntry(started, "172.18.0.2", "3f2a1b4c5d6e");
    expect(connected).toBe(`${started}172.18.0.2\t3f2a1b4c5d6e\n`);
    expect(connected.split("\n").filter((line) => line.endsWith("\t3f2a1b4c5d6e"))).toEqual([
      "172.17.0.2\t3f2a1b4c5d6e",
      "172.18.0.2\t3f2a1b4c5d6e",
    ]);
  });

  it("starts the line on a line of its own when the file has no final newline (edited by the user), or is empty", () => {
    expect(addHostsEntry("127.0.0.1\tlocalhost\n10.9.9.9\tmine", "172.18.0.2", "web")).toBe(
      "127.0.0.1\tlocalhost\n10.9.9.9\tmine\n172.18.0.2\tweb\n",
    );
    expect(addHostsEntry("", "172.18.0.2", "web")).toBe("172.18.0.2\tweb\n");
  });

  it("removes exactly the network's line: other addresses, other names and the user's own lines stay", () => {
    const text = [
      "127.0.0.1\tlocalhost",
      "172.17.0.2\tweb",
      "172.18.0.2 web api", // the user's line for that address, with another name too
      "172.18.0.20\tweb",
      "172.18.0.2\tweb",
      "",
    ].join("\n");
    expect(removeHostsEntry(text, "172.18.0.2", "web")).toBe(
      ["127.0.0.1\tlocalhost", "172.17.0.2\tweb", "172.18.0.2 web api", "172.18.0.20\tweb", ""].join("\n"),
    );
  });

  it("gives back the file as it was before connect, spaces or tabs, with or without a final newline", () => {
    expect(removeHostsEntry(addHostsEntry(started, "172.18.0.2", "3f2a1b4c5d6e"), "172.18.0.2", "3f2a1b4c5d6e")).toBe(
      started,
    );
    expect(removeHostsEntry("127.0.0.1 localhost\n172.18.0.2   web", "172.18.0.2", "web")).toBe(
      "127.0.0.1 localhost\n",
    );
    // Nothing to remove: the text is left alone.
    expect(removeHostsEntry(started, "172.19.0.2", "3f2a1b4c5d6e")).toBe(started);
  });
});
