// What modern-tar's reader leaves out of a tar header, read beside it from the same bytes: the device numbers of
// character and block devices (ustar's devmajor and devminor fields), and Go's archive/tar limit of 1 MiB on PAX and
// GNU long-name headers (modern-tar takes 8 MiB), so a layer Docker refuses is refused here with Go's words.
//
// The tap walks the archive's blocks as modern-tar does (a PAX `size` record, local or global, sizes the next
// entry's data; links, devices, directories and FIFOs carry none), one record per entry in order, and the reader of
// the decoded entries takes them in the same order and checks that both saw the same entry.
import { EngineError } from "../errors.ts";

export const TAR_BLOCK = 512;

/** Go's archive/tar: the most bytes a PAX or GNU long-name header may hold (`maxSpecialFileSize`). */
export const MAX_SPECIAL_FILE_SIZE = 1 << 20;

/** What Go's archive/tar says of a longer one (`ErrFieldTooLong`), and so what Docker's pull error says. */
export const FIELD_TOO_LONG = "archive/tar: header field too long";

/** A tar header's numeric field: octal digits (NUL or space ended), or GNU's base-256 with the high bit set. */
export function tarNumber(field: Uint8Array): number | undefined {
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    return value;
  }
  const text = new TextDecoder()
    .decode(field)
    .replace(/[\0 ]+$/, "")
    .replace(/^ +/, "");
  if (!/^[0-7]*$/.test(text)) return undefined;
  return text === "" ? 0 : Number.parseInt(text, 8);
}

/** Whether a header block's checksum (the sum of its bytes, the checksum field read as spaces) holds. */
export function tarChecksumHolds(header: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return tarNumber(header.subarray(148, 156)) === sum;
}

/** Typeflags whose entries carry no data whatever their size field says: links, devices, directories, FIFOs. */
export const HEADER_ONLY_TYPES = "123456";

const SPECIAL_TYPES = "xgLK";

/** One entry's header as the tap read it. */
export interface TarHeaderFacts {
  /** The typeflag byte as a character: "3" a character device, "4" a block device. */
  typeflag: string;
  /** Bytes of data that follow the header (0 for header-only types). */
  dataSize: number;
  /** A character or block device's numbers; 0 for other entries. */
  devMajor: number;
  devMinor: number;
  /** Extended attributes from the entry's PAX `SCHILY.xattr.*` records, their values as the bytes written. */
  xattrs?: Map<string, Uint8Array>;
}

/** The `SCHILY.xattr.*` records of a PAX header's records, values as bytes (modern-tar reads them as UTF-8 text). */
function paxXattrs(body: Uint8Array): Map<string, Uint8Array> | undefined {
  const decoder = new TextDecoder();
  let xattrs: Map<string, Uint8Array> | undefined;
  let offset = 0;
  while (offset < body.length) {
    const space = body.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number.parseInt(decoder.decode(body.subarray(offset, space)), 10);
    if (!(length > 0) || offset + length > body.length) break;
    const record = body.subarray(space + 1, offset + length - 1);
    const equals = record.indexOf(0x3d);
    const key = equals > 0 ? decoder.decode(record.subarray(0, equals)) : "";
    if (key.startsWith("SCHILY.xattr.")) {
      xattrs ??= new Map();
      xattrs.set(key.slice("SCHILY.xattr.".length), record.slice(equals + 1));
    }
    offset += length;
  }
  return xattrs;
}

/** The `size` record of a PAX header's records (`<length> <key>=<value>\n`…), as modern-tar reads it. */
function paxSize(body: Uint8Array): number | undefined {
  const decoder = new TextDecoder();
  let size: number | undefined;
  let offset = 0;
  while (offset < body.length) {
    const space = body.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number.parseInt(decoder.decode(body.subarray(offset, space)), 10);
    if (!(length > 0)) break;
    const record = decoder.decode(body.subarray(space + 1, offset + length - 1));
    const equals = record.indexOf("=");
    if (equals > 0 && record.slice(0, equals) === "size") {
      const value = record.slice(equals + 1);
      if (/^\d+$/.test(value) && Number.isSafeInteger(+value)) size = +value;
    }
    offset += length;
  }
  return size;
}

function damaged(why: string): EngineError {
  return new EngineError("dataLoss", `the tar has a damaged header: ${why}`);
}

/**
 * A pass-through stream that reads every header of a tar as it goes by. Put it in front of modern-tar's decoder and
 * call `next()` once for each entry the decoder gives, in order.
 * @example
 * const tap = new TarHeaderTap();
 * const entries = tar.pipeThrough(tap.stream).pipeThrough(createTarDecoder({ strict: true }));
 * // for each { header } of entries: const { devMajor, devMinor } = tap.next(header);
 */
export class TarHeaderTap {
  readonly stream: TransformStream<Uint8Array, Uint8Array>;
  readonly #facts: TarHeaderFacts[] = [];
  readonly #header = new Uint8Array(TAR_BLOCK);
  #headerBytes = 0;
  /** Bytes still to pass before the next header: data and padding. */
  #skip = 0;
  /** A PAX header's records being collected, and the padding after them. */
  #pax?: { global: boolean; body: Uint8Array; got: number; padding: number };
  #globalSize?: number;
  #nextSize?: number;
  #nextXattrs?: Map<string, Uint8Array>;
  #done = false;

  constructor() {
    this.stream = new TransformStream({
      transform: (chunk, controller) => {
        this.read(chunk);
        controller.enqueue(chunk);
      },
    });
  }

  /**
   * The facts of the next entry, checked against what the decoder made of it: the same data size, or the two
   * readers framed the archive differently and neither can be trusted.
   */
  next(decoded: { name: string; size: number }): TarHeaderFacts {
    const facts = this.#facts.shift();
    if (!facts || facts.dataSize !== decoded.size) {
      throw damaged(
        `entry "${decoded.name}" (${decoded.size} bytes) does not match its header (${facts ? `${facts.dataSize} bytes` : "none"}): the archive can be read in two ways`,
      );
    }
    return facts;
  }

  /** Reads the next bytes of the archive, for a caller that passes them on itself instead of through `stream`. */
  read(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length && !this.#done) {
      if (this.#pax) {
        const pax = this.#pax;
        const take = Math.min(pax.body.length - pax.got, chunk.length - at);
        pax.body.set(chunk.subarray(at, at + take), pax.got);
        pax.got += take;
        at += take;
        if (pax.got === pax.body.length) {
          const size = paxSize(pax.body);
          if (pax.global) {
            if (size !== undefined) this.#globalSize = size;
          } else {
            this.#nextSize = size;
            this.#nextXattrs = paxXattrs(pax.body);
          }
          this.#skip = pax.padding;
          this.#pax = undefined;
        }
        continue;
      }
      if (this.#skip > 0) {
        const take = Math.min(this.#skip, chunk.length - at);
        this.#skip -= take;
        at += take;
        continue;
      }
      const take = Math.min(TAR_BLOCK - this.#headerBytes, chunk.length - at);
      this.#header.set(chunk.subarray(at, at + take), this.#headerBytes);
      this.#headerBytes += take;
      at += take;
      if (this.#headerBytes === TAR_BLOCK) {
        this.#headerBytes = 0;
        this.#onHeader(this.#header);
      }
    }
  }

  #onHeader(header: Uint8Array): void {
    // The end of the archive (what follows is the decoder's to judge).
    if (header.every((byte) => byte === 0)) {
      this.#done = true;
      return;
    }
    if (!tarChecksumHolds(header)) throw damaged("its checksum does not match");
    const size = tarNumber(header.subarray(124, 136));
    if (size === undefined) throw damaged("its size is not a number");
    const typeflag = String.fromCharCode(header[156]!);
    const padding = -size & (TAR_BLOCK - 1);
    if (SPECIAL_TYPES.includes(typeflag)) {
      if (size > MAX_SPECIAL_FILE_SIZE) {
        const what = typeflag === "x" || typeflag === "g" ? "a PAX header" : "a GNU long-name header";
        throw new EngineError(
          "dataLoss",
          `the tar has ${what} of ${size} bytes, over the 1 MiB that Docker's tar reader takes (${FIELD_TOO_LONG}): refusing to read it`,
        );
      }
      // modern-tar forgets a pending PAX header when another special header follows it.
      this.#nextSize = undefined;
      this.#nextXattrs = undefined;
      if (typeflag === "x" || typeflag === "g") {
        this.#pax = { global: typeflag === "g", body: new Uint8Array(size), got: 0, padding };
      } else {
        this.#skip = size + padding;
      }
      return;
    }
    const headerOnly = HEADER_ONLY_TYPES.includes(typeflag);
    const dataSize = headerOnly ? 0 : (this.#nextSize ?? this.#globalSize ?? size);
    this.#nextSize = undefined;
    const xattrs = this.#nextXattrs;
    this.#nextXattrs = undefined;
    let devMajor = 0;
    let devMinor = 0;
    if (typeflag === "3" || typeflag === "4") {
      const major = tarNumber(header.subarray(329, 337));
      const minor = tarNumber(header.subarray(337, 345));
      if (major === undefined || minor === undefined) throw damaged("its device numbers are not numbers");
      devMajor = major;
      devMinor = minor;
    }
    this.#facts.push({ typeflag, dataSize, devMajor, devMinor, ...(xattrs ? { xattrs } : {}) });
    this.#skip = dataSize + (-dataSize & (TAR_BLOCK - 1));
  }
}
