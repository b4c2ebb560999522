// docker commit: a container's changes (its overlay upper dir, as a standard layer) on top of its image's layers,
// with the container's command and environment as the new image's defaults, changed by Dockerfile instructions
// (`--change "CMD ..."`).
import type { ContainerService } from "../container-service.ts";
import { EngineError } from "../errors.ts";
import type { ImageService } from "../image-service.ts";
import type { Digest, ImageConfig } from "../oci/index.ts";
import { applyConfigStep } from "./builder.ts";
import { expandVariables, parseDockerfile } from "./dockerfile.ts";
import { gzipLayer } from "./files.ts";

/** Instructions `docker commit --change` accepts, as dockerd lists them. */
const COMMIT_INSTRUCTIONS = new Set([
  "CMD",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "LABEL",
  "ONBUILD",
  "USER",
  "VOLUME",
  "WORKDIR",
  "STOPSIGNAL",
  "HEALTHCHECK",
  "SHELL",
]);

export interface CommitOptions {
  /** `repo[:tag]` to name it; untagged without. */
  reference?: string;
  /** `-m`. */
  comment?: string;
  /** `-a`. */
  author?: string;
  /** `-c`: Dockerfile instructions applied to the config. */
  changes?: string[];
  /** Pause the container while its changes are read (Docker's default). */
  pause?: boolean;
}

/**
 * Makes an image of a container (`docker commit`). Returns its ID.
 * @example
 * const id = await commitContainer(images, containers, "web", { reference: "web:snapshot", changes: ["CMD [\"sh\"]"] });
 */
export async function commitContainer(
  images: ImageService,
  containers: ContainerService,
  ref: string,
  options: CommitOptions = {},
): Promise<Digest> {
  const container = containers.inspect(ref);
  const base = await images.store.get(container.imageId);
  const config: ImageConfig = structuredClone(base.config);
  config.config ??= {};
  const exec = config.config;
  exec.Cmd = container.cmd;
  exec.Entrypoint = container.entrypoint;
  if (container.entrypoint.length === 0) delete exec.Entrypoint;
  exec.Env = container.spec.process.env;
  if (container.spec.process.cwd && container.spec.process.cwd !== "/") exec.WorkingDir = container.spec.process.cwd;
  if (options.changes && options.changes.length > 0) {
    const { stages } = parseDockerfile(`FROM scratch\n${options.changes.join("\n")}\n`);
    for (const step of stages[0]?.steps ?? []) {
      if (!COMMIT_INSTRUCTIONS.has(step.keyword)) {
        throw new EngineError("invalidArgument", `${step.keyword} is not a valid change command`);
      }
      if (step.keyword === "WORKDIR") {
        const dir = expandVariables(step.content.trim(), {});
        exec.WorkingDir = dir.startsWith("/") ? dir : `${exec.WorkingDir ?? "/"}/${dir}`;
        continue;
      }
      const env = Object.fromEntries((exec.Env ?? []).map((entry) => entry.split(/=(.*)/s, 2) as [string, string]));
      applyConfigStep(step, config, { expand: (text) => expandVariables(text, env), cmdSetInStage: true });
    }
  }
  const running = container.status === "running";
  const pause = running && options.pause !== false;
  if (pause) await containers.pause(container.id);
  let tar: Uint8Array;
  try {
    ({ tar } = await containers.layer(container.id));
  } finally {
    if (pause) await containers.unpause(container.id);
  }
  const created = new Date().toISOString();
  config.created = created;
  if (options.author !== undefined) config.author = options.author;
  const history = [...(base.config.history ?? base.layers.map(() => ({})))];
  history.push({
    created,
    created_by: [...container.entrypoint, ...container.cmd].join(" "),
    ...(options.comment ? { comment: options.comment } : {}),
    ...(options.author ? { author: options.author } : {}),
  });
  config.history = history;
  const { rootfs: _rootfs, ...withoutRootfs } = config;
  const image = await images.store.create({
    config: withoutRootfs,
    layers: [...base.layers.map((stored) => ({ stored })), await gzipLayer(tar)],
    names: options.reference ? [options.reference] : [],
    parent: base.record.config.digest,
  });
  return image.record.config.digest;
}
