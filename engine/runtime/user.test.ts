import { describe, expect, it } from "vitest";
import { resolveUser } from "./user.ts";

// busybox's own files.
const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
`;
const GROUP = `root:x:0:
daemon:x:1:
wheel:x:10:root
staff:x:50:www-data,daemon
www-data:x:33:
nogroup:x:65534:
`;

describe("resolveUser: names from the image's /etc/passwd and /etc/group, as runc", () => {
  it.each([
    ["0", { uid: 0, gid: 0, additionalGids: [10], home: "/root" }],
    ["root", { uid: 0, gid: 0, additionalGids: [10], home: "/root" }],
    ["nobody", { uid: 65534, gid: 65534, additionalGids: [], home: "/home" }],
    ["www-data", { uid: 33, gid: 33, additionalGids: [50], home: "/var/www" }],
    ["www-data:nogroup", { uid: 33, gid: 65534, additionalGids: [], home: "/var/www" }],
    ["33:50", { uid: 33, gid: 50, additionalGids: [], home: "/var/www" }],
    ["1000", { uid: 1000, gid: 0, additionalGids: [], home: "/" }],
    ["1000:1000", { uid: 1000, gid: 1000, additionalGids: [], home: "/" }],
  ])("%s", (user, resolved) => {
    expect(resolveUser(user, PASSWD, GROUP)).toEqual(resolved);
  });

  it("says which name is missing, in runc's words", () => {
    expect(() => resolveUser("nosuch", PASSWD, GROUP)).toThrow(
      "unable to find user nosuch: no matching entries in passwd file",
    );
    expect(() => resolveUser("nobody:nosuch", PASSWD, GROUP)).toThrow(
      "unable to find group nosuch: no matching entries in group file",
    );
    expect(() => resolveUser("nobody", undefined, undefined)).toThrow(/unable to find user nobody/);
  });

  it("takes numbers as they are when the image has no account files", () => {
    expect(resolveUser("0", undefined, undefined)).toEqual({ uid: 0, gid: 0, additionalGids: [], home: "/" });
  });
});
