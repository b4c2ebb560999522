// docker's `--mount` value: comma-separated key=value fields (a CSV record, as docker reads it) turned into the
// Engine API's mount object, with docker's own messages for a field it does not know or a value it cannot read.
import { ramInBytes } from "../conventions/index.ts";
import { FlagError } from "./flags.ts";

/** The Engine API's mount object (HostConfig.Mounts). */
export interface ApiMount {
  Type: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string> };
  BindOptions?: { Propagation?: string };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

function fields(value: string): string[] {
  // Double quotes hold commas, as in a CSV record.
  const out: string[] = [];
  let field = "";
  let quoted = false;
  for (const char of value) {
    if (char === '"') quoted = !quoted;
    else if (char === "," && !quoted) {
      out.push(field);
      field = "";
    } else field += char;
  }
  out.push(field);
  return out;
}

const TRUE = new Set(["1", "t", "T", "true", "TRUE", "True"]);
const FALSE = new Set(["0", "f", "F", "false", "FALSE", "False"]);

/**
 * Parses one `--mount` value.
 * @example
 * parseMountOption("type=volume,src=data,dst=/data,readonly"); // { Type: "volume", Source: "data", Target: "/data", ReadOnly: true }
 */
export function parseMountOption(value: string): ApiMount {
  const bad = (why: string) => new FlagError(`invalid argument "${value}" for "--mount" flag: ${why}`);
  const mount: ApiMount = { Type: "volume" };
  const bool = (key: string, text: string | undefined) => {
    if (text === undefined || TRUE.has(text)) return true;
    if (FALSE.has(text)) return false;
    throw bad(`invalid value for ${key}: ${text}`);
  };
  for (const field of fields(value)) {
    const equals = field.indexOf("=");
    const key = (equals < 0 ? field : field.slice(0, equals)).trim().toLowerCase();
    const text = equals < 0 ? undefined : field.slice(equals + 1);
    if (key === "readonly" || key === "ro") {
      mount.ReadOnly = bool(key, text);
      continue;
    }
    if (key === "volume-nocopy") {
      mount.VolumeOptions = { ...mount.VolumeOptions, NoCopy: bool(key, text) };
      continue;
    }
    if (text === undefined) throw bad(`invalid field '${field}' must be a key=value pair`);
    switch (key) {
      case "type":
        mount.Type = text;
        break;
      case "source":
      case "src":
        mount.Source = text;
        break;
      case "target":
      case "dst":
      case "destination":
        mount.Target = text;
        break;
      case "bind-propagation":
        mount.BindOptions = { Propagation: text };
        break;
      case "volume-label": {
        const [name, label = ""] = text.split("=", 2) as [string, string?];
        mount.VolumeOptions = { ...mount.VolumeOptions, Labels: { ...mount.VolumeOptions?.Labels, [name]: label } };
        break;
      }
      case "tmpfs-size": {
        const bytes = ramInBytes(text);
        if (bytes === undefined) throw bad(`invalid value for ${key}: ${text}`);
        mount.TmpfsOptions = { ...mount.TmpfsOptions, SizeBytes: bytes };
        break;
      }
      case "tmpfs-mode": {
        if (!/^[0-7]+$/.test(text)) throw bad(`invalid value for ${key}: ${text}`);
        mount.TmpfsOptions = { ...mount.TmpfsOptions, Mode: Number.parseInt(text, 8) };
        break;
      }
      case "consistency":
        break;
      default:
        throw bad(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (mount.Type === "") throw bad("type is required");
  if (!mount.Target) throw bad("target is required");
  return mount;
}
