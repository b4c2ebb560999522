// Tar entries with what modern-tar cannot carry: the device numbers of character and block devices, and extended
// attributes as PAX `SCHILY.xattr.<name>` records whose values are bytes (a file's `security.capability` is binary;
// modern-tar reads and writes PAX values as UTF-8 text). The engine writes container layers with these (`docker
// commit`, a build's RUN step, a container's saved writable layer) and reads its saved layers back with them.
//
// Writing: a ustar header (magic "ustar\0", version "00"), preceded by a PAX header when the entry has xattrs or a
// name, link target or number that ustar cannot hold. Reading: ustar and GNU headers, PAX local headers (`path`,
// `linkpath`, `size`, `uid`, `gid`, `mtime`, `SCHILY.xattr.*`), GNU long names and link names; global headers are
// skipped. A header whose checksum fails, or an archive cut short, is refused.
import { EngineError } from "../errors.ts";
import { TAR_BLOCK, tarChecksumHolds, tarNumber } from "./tar-headers.ts";

export type TarEntryType = "file" | "link" | "symlink" | "character-device" | "block-device" | "directory" | "fifo";

export interface RawTarEntry {
  /** The path, without a leading `./` or a trailing slash. */
  path: string;
  type: TarEntryType;
  /** Permission bits (with setuid, setgid and sticky). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** A hard link's target path, or a symlink's target. */
  linkname?: string;
  devMajor?: number;
  devMinor?: number;
  /** Extended attributes by name. */
  xattrs?: Map<string, Uint8Array>;
  /** A file's bytes. */
  body?: Uint8Array;
}

const XATTR_PREFIX = "SCHILY.xattr.";
const TYPEFLAGS: Record<TarEntryType, string> = {
  file: "0",
  link: "1",
  symlink: "2",
  "character-device": "3",
  "block-device": "4",
  directory: "5",
  fifo: "6",
};
const TYPES = new Map(Object.entries(TYPEFLAGS).map(([type, flag]) => [flag, type as TarEntryType]));

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** One PAX record, `<length> <key>=<value>\n`, its length counting its own digits. */
function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const rest = encoder.encode(` ${key}=`).length + value.length + 1;
  let length = rest + String(rest).length;
  if (String(length).length !== String(rest).length) length = rest + String(length).length;
  return concat([encoder.encode(`${length} ${key}=`), value, encoder.encode("\n")]);
}

/** Writes an octal number into a field (digits, then a NUL); false when it does not fit. */
function putOctal(header: Uint8Array, offset: number, width: number, value: number): boolean {
  const digits = Math.max(0, Math.floor(value)).toString(8);
  if (digits.length > width - 1) return false;
  header.set(encoder.encode(digits.padStart(width - 1, "0")), offset);
  header[offset + width - 1] = 0;
  return true;
}

function putString(header: Uint8Array, offset: number, width: number, value: string): boolean {
  const bytes = encoder.encode(value);
  if (bytes.length > width) {
    header.set(bytes.subarray(0, width), offset);
    return false;
  }
  header.set(bytes, offset);
  return true;
}

function header(fields: {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname?: string;
  devMajor?: number;
  devMinor?: number;
}): { block: Uint8Array; overflow: Map<string, string> } {
  const block = new Uint8Array(TAR_BLOCK);
  const overflow = new Map<string, string>();
  if (!putString(block, 0, 100, fields.name)) overflow.set("path", fields.name);
  putOctal(block, 100, 8, fields.mode & 0o7777);
  if (!putOctal(block, 108, 8, fields.uid)) overflow.set("uid", String(fields.uid));
  if (!putOctal(block, 116, 8, fields.gid)) overflow.set("gid", String(fields.gid));
  if (!putOctal(block, 124, 12, fields.size)) overflow.set("size", String(fields.size));
  if (!putOctal(block, 136, 12, fields.mtime)) overflow.set("mtime", String(fields.mtime));
  block[156] = fields.typeflag.charCodeAt(0);
  if (fields.linkname && !putString(block, 157, 100, fields.linkname)) overflow.set("linkpath", fields.linkname);
  block.set(encoder.encode("ustar\u000000"), 257);
  putOctal(block, 329, 8, fields.devMajor ?? 0);
  putOctal(block, 337, 8, fields.devMinor ?? 0);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  putOctal(block, 148, 7, sum);
  block[155] = 0x20;
  return { block, overflow };
}

function padded(data: Uint8Array): Uint8Array {
  const rest = -data.length & (TAR_BLOCK - 1);
  return rest === 0 ? data : concat([data, new Uint8Array(rest)]);
}

/**
 * One entry's blocks: a PAX header when it needs one (xattrs, or what ustar cannot hold), its header, its data.
 * @example
 * const blocks = encodeTarEntry({ path: "bin/ping", type: "file", mode: 0o755, uid: 0, gid: 0, mtime: 0,
 *   body, xattrs: new Map([["security.capability", caps]]) });
 */
export function encodeTarEntry(entry: RawTarEntry): Uint8Array {
  const name = entry.type === "directory" ? `${entry.path}/` : entry.path;
  const body = entry.type === "file" ? (entry.body ?? new Uint8Array(0)) : new Uint8Array(0);
  const { block, overflow } = header({
    name,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    size: body.length,
    mtime: entry.mtime,
    typeflag: TYPEFLAGS[entry.type],
    linkname: entry.linkname,
    devMajor: entry.devMajor,
    devMinor: entry.devMinor,
  });
  const parts: Uint8Array[] = [];
  if (overflow.size > 0 || (entry.xattrs && entry.xattrs.size > 0)) {
    const records: Uint8Array[] = [];
    for (const [key, value] of overflow) records.push(paxRecord(key, encoder.encode(value)));
    for (const [key, value] of entry.xattrs ?? []) records.push(paxRecord(XATTR_PREFIX + key, value));
    const pax = concat(records);
    const paxName = `PaxHeaders/${entry.path.slice(-80)}`;
    const { block: paxHeader } = header({
      name: paxName,
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: pax.length,
      mtime: entry.mtime,
      typeflag: "x",
    });
    parts.push(paxHeader, padded(pax));
  }
  parts.push(block);
  if (body.length > 0) parts.push(padded(body));
  return concat(parts);
}

/**
 * A whole archive of the entries, in order, closed by its two zero blocks.
 * @example
 * const tar = encodeTar([{ path: "etc", type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: 0 }]);
 */
export function encodeTar(entries: Iterable<RawTarEntry>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const entry of entries) parts.push(encodeTarEntry(entry));
  parts.push(new Uint8Array(2 * TAR_BLOCK));
  return concat(parts);
}

function damaged(why: string): EngineError {
  return new EngineError("dataLoss", `the tar is damaged: ${why}`);
}

/** PAX records as keys and raw values. */
function parsePax(body: Uint8Array): Map<string, Uint8Array> {
  const records = new Map<string, Uint8Array>();
  let offset = 0;
  while (offset < body.length) {
    const space = body.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number.parseInt(decoder.decode(body.subarray(offset, space)), 10);
    if (!(length > 0) || offset + length > body.length) throw damaged("a PAX record's length runs past its header");
    const record = body.subarray(space + 1, offset + length - 1);
    const equals = record.indexOf(0x3d);
    if (equals > 0) records.set(decoder.decode(record.subarray(0, equals)), record.slice(equals + 1));
    offset += length;
  }
  return records;
}

function cString(field: Uint8Array): string {
  const nul = field.indexOf(0);
  return decoder.decode(nul === -1 ? field : field.subarray(0, nul));
}

function cleanPath(name: string): string {
  return name.replace(/^\.\/?/, "").replace(/\/+$/, "");
}

/**
 * Every entry of a whole archive in memory, with device numbers and binary xattrs (the root `./` comes out as the
 * path ""). Throws a `dataLoss` error when a checksum fails or the archive is cut short.
 * @example
 * for (const entry of readTar(bytes)) if (entry.xattrs) console.log(entry.path, [...entry.xattrs.keys()]);
 */
export function readTar(bytes: Uint8Array): RawTarEntry[] {
  const entries: RawTarEntry[] = [];
  let pax: Map<string, Uint8Array> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let at = 0;
  while (at + TAR_BLOCK <= bytes.length) {
    const block = bytes.subarray(at, at + TAR_BLOCK);
    if (block.every((byte) => byte === 0)) return entries;
    if (!tarChecksumHolds(block)) throw damaged(`the header at byte ${at} has a wrong checksum`);
    const headerSize = tarNumber(block.subarray(124, 136));
    if (headerSize === undefined) throw damaged(`the header at byte ${at} has no size`);
    const typeflag = String.fromCharCode(block[156]!);
    const paxSize = pax?.get("size");
    const special = "xgLK".includes(typeflag);
    const size = !special && paxSize ? Number(decoder.decode(paxSize)) : headerSize;
    const dataStart = at + TAR_BLOCK;
    const headerOnly = "123456".includes(typeflag);
    const dataLength = headerOnly ? 0 : size;
    if (dataStart + dataLength > bytes.length) throw damaged("it is cut short inside an entry");
    const data = bytes.subarray(dataStart, dataStart + dataLength);
    at = dataStart + dataLength + (-dataLength & (TAR_BLOCK - 1));
    if (typeflag === "x") {
      pax = parsePax(data);
      continue;
    }
    if (typeflag === "g") continue;
    if (typeflag === "L") {
      longName = cString(data);
      continue;
    }
    if (typeflag === "K") {
      longLink = cString(data);
      continue;
    }
    const type = TYPES.get(typeflag === "\0" || typeflag === "7" ? "0" : typeflag);
    const ustar = decoder.decode(block.subarray(257, 262)) === "ustar";
    const prefix = ustar ? cString(block.subarray(345, 500)) : "";
    let name = cString(block.subarray(0, 100));
    if (prefix) name = `${prefix}/${name}`;
    const text = (key: string) => {
      const value = pax?.get(key);
      return value && decoder.decode(value);
    };
    name = text("path") ?? longName ?? name;
    const linkname = text("linkpath") ?? longLink ?? cString(block.subarray(157, 257));
    const number = (key: string, offset: number, width: number) => {
      const value = text(key);
      if (value !== undefined && /^\d+(\.\d*)?$/.test(value)) return Math.floor(Number(value));
      return tarNumber(block.subarray(offset, offset + width)) ?? 0;
    };
    let xattrs: Map<string, Uint8Array> | undefined;
    for (const [key, value] of pax ?? []) {
      if (!key.startsWith(XATTR_PREFIX)) continue;
      xattrs ??= new Map();
      xattrs.set(key.slice(XATTR_PREFIX.length), value);
    }
    const uid = number("uid", 108, 8);
    const gid = number("gid", 116, 8);
    const mtime = number("mtime", 136, 12);
    pax = undefined;
    longName = undefined;
    longLink = undefined;
    if (!type) continue;
    const entry: RawTarEntry = {
      path: cleanPath(name),
      type,
      mode: (tarNumber(block.subarray(100, 108)) ?? 0) & 0o7777,
      uid,
      gid,
      mtime,
    };
    if (type === "link") entry.linkname = cleanPath(linkname);
    if (type === "symlink") entry.linkname = linkname;
    if (type === "character-device" || type === "block-device") {
      entry.devMajor = tarNumber(block.subarray(329, 337)) ?? 0;
      entry.devMinor = tarNumber(block.subarray(337, 345)) ?? 0;
    }
    if (type === "file") entry.body = data.slice();
    if (xattrs) entry.xattrs = xattrs;
    entries.push(entry);
  }
  throw damaged("it ends without its end-of-archive blocks");
}
