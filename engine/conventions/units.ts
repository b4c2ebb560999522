// Docker's human units (github.com/docker/go-units): sizes in decimal units formatted like Go's `%.Ng`, durations as
// "About a minute", and the size parser behind `--memory 64m`.

const DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/**
 * Go's `%.{precision}g`: shortest of %e and %f at that many significant digits, trailing zeros dropped.
 * @example
 * formatG(4.2623, 3); // "4.26"
 * formatG(999.6, 3); // "1e+03"
 */
export function formatG(value: number, precision: number): string {
  if (value === 0) return "0";
  if (!Number.isFinite(value)) return value > 0 ? "+Inf" : value < 0 ? "-Inf" : "NaN";
  const exponential = value.toExponential(Math.max(0, precision - 1));
  const [mantissa, exponentText] = exponential.split("e");
  const exponent = Number(exponentText);
  const trim = (digits: string) => (digits.includes(".") ? digits.replace(/\.?0+$/, "") : digits);
  if (exponent < -4 || exponent >= precision) {
    const sign = exponent < 0 ? "-" : "+";
    return `${trim(mantissa!)}e${sign}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  return trim(value.toFixed(Math.max(0, precision - 1 - exponent)));
}

function scaled(size: number, base: number, units: string[]): [number, string] {
  let value = size;
  let unit = 0;
  while (value >= base && unit < units.length - 1) {
    value /= base;
    unit++;
  }
  return [value, units[unit]!];
}

/**
 * units.HumanSizeWithPrecision: what `docker images` shows with precision 3 ("4.26MB").
 * @example
 * humanSize(4_262_300, 3); // "4.26MB"
 */
export function humanSize(bytes: number, precision = 4): string {
  const [value, unit] = scaled(bytes, 1000, DECIMAL_UNITS);
  return `${formatG(value, precision)}${unit}`;
}

/**
 * units.BytesSize: binary units, as `docker stats` shows memory ("1.5MiB").
 * @example
 * bytesSize(1_572_864); // "1.5MiB"
 */
export function bytesSize(bytes: number): string {
  const [value, unit] = scaled(bytes, 1024, BINARY_UNITS);
  return `${formatG(value, 4)}${unit}`;
}

/**
 * units.HumanDuration: the words `docker ps` uses for how long ago or how long for.
 * @example
 * humanDuration(3_000); // "3 seconds"
 * humanDuration(90_000); // "About a minute"
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

const SIZE = /^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/;
const BINARY: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * units.RAMInBytes: `--memory 64m` → 67108864; undefined when the text is not a size.
 * @example
 * ramInBytes("64m"); // 67108864
 */
export function ramInBytes(text: string): number | undefined {
  const match = SIZE.exec(text);
  if (!match) return undefined;
  const value = Number.parseFloat(match[1]!);
  if (!Number.isFinite(value)) return undefined;
  return Math.trunc(value * (BINARY[(match[3] ?? "").toLowerCase()] ?? 1));
}

/**
 * stringid.TruncateID: the 12 characters Docker shows of an id, without its `sha256:`.
 * @example
 * shortId("sha256:4f2a…"); // "4f2a…" (12 characters)
 */
export function shortId(id: string): string {
  const colon = id.indexOf(":");
  return (colon === -1 ? id : id.slice(colon + 1)).slice(0, 12);
}

/**
 * formatter.Ellipsis: cuts text to `width` characters, the last being "…".
 * @example
 * ellipsis("sleep 1000000000000000000", 20); // "sleep 1000000000000…"
 */
export function ellipsis(text: string, width: number): string {
  const chars = [...text];
  if (width <= 0) return "";
  if (width === 1) return chars[0] ?? "";
  if (chars.length <= width) return text;
  return `${chars.slice(0, width - 1).join("")}…`;
}
