// `--user NAME[:GROUP]` and an image's USER, resolved against the image's own /etc/passwd and /etc/group as runc
// resolves them (libcontainer/user): names are looked up, numbers are taken as they are (with the passwd entry's
// group and home when one matches), and without an explicit group the user's supplementary groups come along.
import { EngineError } from "../errors.ts";

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** The passwd entry's home directory ("/" when the user has none), for HOME. */
  home: string;
}

const MAX_ID = 0x7fffffff;

/**
 * Checks the form of a user spec: `name`, `uid`, `name:group`, `uid:gid` (any mix). The names are resolved when the
 * container starts, against its own files.
 * @example
 * validateUserSpec("nobody:nogroup"); // "nobody:nogroup"
 */
export function validateUserSpec(user: string): string {
  const [name = "", group, extra] = user.split(":");
  const word = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/;
  if (extra !== undefined || !word.test(name) || (group !== undefined && !word.test(group)))
    throw new EngineError("invalidArgument", `invalid user "${user}": use name, uid, name:group or uid:gid`);
  for (const part of [name, group]) {
    if (part !== undefined && /^\d+$/.test(part) && Number(part) > MAX_ID)
      throw new EngineError("invalidArgument", `invalid user "${user}": ${part} is out of range`);
  }
  return user;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function lines(text: string | undefined): string[][] {
  return (text ?? "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => line.split(":"));
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  return lines(text)
    .filter((f) => f.length >= 4 && /^\d+$/.test(f[2]!) && /^\d+$/.test(f[3]!))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || "/" }));
}

function parseGroup(text: string | undefined): GroupEntry[] {
  return lines(text)
    .filter((f) => f.length >= 3 && /^\d+$/.test(f[2]!))
    .map((f) => ({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? "").split(",").filter(Boolean) }));
}

/**
 * Resolves a user spec against an image's /etc/passwd and /etc/group (undefined when the image has none), with
 * runc's error for a name that is not there.
 * @example
 * resolveUser("nobody", "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", "");
 * // { uid: 65534, gid: 65534, additionalGids: [], home: "/nonexistent" }
 */
export function resolveUser(user: string, passwd: string | undefined, group: string | undefined): ResolvedUser {
  const [userPart = "", groupPart] = validateUserSpec(user || "0").split(":");
  const users = parsePasswd(passwd);
  const groups = parseGroup(group);
  const numericUser = /^\d+$/.test(userPart);
  const entry = numericUser ? users.find((u) => u.uid === Number(userPart)) : users.find((u) => u.name === userPart);
  if (!numericUser && !entry)
    throw new EngineError("invalidArgument", `unable to find user ${userPart}: no matching entries in passwd file`);
  const uid = numericUser ? Number(userPart) : entry!.uid;
  let gid = entry?.gid ?? 0;
  let additionalGids: number[] = [];
  if (groupPart !== undefined) {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const found = groups.find((g) => g.name === groupPart);
      if (!found)
        throw new EngineError(
          "invalidArgument",
          `unable to find group ${groupPart}: no matching entries in group file`,
        );
      gid = found.gid;
    }
  } else if (entry) {
    additionalGids = [
      ...new Set(groups.filter((g) => g.members.includes(entry.name) && g.gid !== gid).map((g) => g.gid)),
    ];
  }
  return { uid, gid, additionalGids, home: entry?.home ?? "/" };
}
