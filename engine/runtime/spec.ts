// The part of the OCI runtime spec (runtime-spec config.md, config-linux.md) Drydock produces and executes. Field
// names are the wire keys. (The wire types belong in engine/oci beside the image types; they live here until oci/
// grows a runtime-config.ts.)

import type { DeviceRule } from "./confinement.ts";

export interface RuntimeSpec {
  ociVersion: string;
  process: RuntimeProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: RuntimeMount[];
  annotations?: Record<string, string>;
  linux: RuntimeLinux;
}

export interface RuntimeProcess {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  /**
   * Numeric ids. `username` (OCI has it for Windows only) holds a `--user`/USER spec with names in it
   * (`nginx`, `1000:staff`): the runtime resolves it against the container's /etc/passwd and /etc/group at start.
   */
  user: { uid: number; gid: number; additionalGids?: number[]; username?: string };
  args: string[];
  env: string[];
  cwd: string;
  /** Capability names (`CAP_CHOWN`) per set. */
  capabilities?: {
    bounding: string[];
    effective: string[];
    permitted: string[];
    inheritable: string[];
    ambient: string[];
  };
  noNewPrivileges?: boolean;
}

export interface RuntimeMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export type NamespaceType = "pid" | "network" | "mount" | "ipc" | "uts" | "user" | "cgroup";

export interface RuntimeDevice {
  type: "c" | "b" | "p";
  path: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface RuntimeLinux {
  namespaces: { type: NamespaceType; path?: string }[];
  devices?: RuntimeDevice[];
  cgroupsPath?: string;
  resources?: {
    memory?: { limit?: number };
    cpu?: { quota?: number; period?: number };
    pids?: { limit: number };
    /** The device list the cgroup's device program enforces; absent: every device (privileged). */
    devices?: DeviceRule[];
  };
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /**
   * Docker's default seccomp profile (`builtin`): drydockd holds its table and computes it, as moby does, for the
   * container's bounding set (process.capabilities.bounding), so an exec gets the container's filter. OCI would list
   * the syscalls here. Absent: no filter (privileged, or `--security-opt seccomp=unconfined`).
   */
  seccomp?: { profile: "builtin" };
}
