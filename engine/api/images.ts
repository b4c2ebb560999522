// Image routes: list, pull (`create`, Docker's JSON progress lines), inspect, history, tag, delete.
import type { Hono } from "hono";
import { humanSize } from "../conventions/index.ts";
import { EngineError } from "../errors.ts";
import type { Credentials, ImageService, LayerProgress, PushProgress } from "../image-service.ts";
import { familiarReference, type Platform, parsePlatformSpecifier, parseReference } from "../oci/index.ts";
import { type ApiOptions, dockerReference, empty, flag, imageSummaryJson, unixSeconds, withImage } from "./common.ts";
import { errorResponse } from "./errors.ts";
import {
  acceptFilters,
  booleanFilter,
  labelsMatch,
  parseEventTime,
  parseFilters,
  referenceMatches,
} from "./filters.ts";
import { progressResponse } from "./progress.ts";

/** One of Docker's pull progress lines for a layer's event. */
function progressLine(progress: LayerProgress): Record<string, unknown> {
  const id = progress.id;
  switch (progress.status) {
    case "waiting":
      return { status: "Pulling fs layer", progressDetail: {}, id };
    case "exists":
      return { status: "Already exists", progressDetail: {}, id };
    case "complete":
      return { status: "Pull complete", progressDetail: {}, id };
    default:
      return {
        status: "Downloading",
        progressDetail: { current: progress.done, total: progress.total },
        progress: `${progressBar(progress.done, progress.total)} ${humanSize(progress.done)}/${humanSize(progress.total)}`,
        id,
      };
  }
}

/** Docker's progress bar: `[=====>      ]`, 50 wide. */
function progressBar(done: number, total: number): string {
  const width = 50;
  const filled = total > 0 ? Math.min(width, Math.floor((done / total) * width)) : 0;
  return `[${"=".repeat(Math.max(0, filled - 1))}${filled > 0 ? ">" : ""}${" ".repeat(width - filled)}]`;
}

/** The filters `GET /images/json` takes, as dockerd lists them. */
const IMAGE_FILTERS = ["before", "dangling", "label", "reference", "since", "until"] as const;

/** An `until` filter: unix seconds, an RFC 3339 time, or a Go duration before now (`24h`, `1h30m`); in ms. */
function untilTime(value: string): number {
  const duration = /^(?:\d+(?:\.\d+)?(?:h|m|s|ms))+$/.test(value)
    ? [...value.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)].reduce(
        (sum, [, amount, unit]) => sum + Number(amount) * { h: 3_600_000, m: 60_000, s: 1000, ms: 1 }[unit as "h"],
        0,
      )
    : undefined;
  if (duration !== undefined) return Date.now() - duration;
  return parseEventTime(value, "until") ?? Date.now();
}

/** The name an image route names: everything between `/images/` and the route's last segment (names have slashes). */
function imageName(path: string, suffix: string): string {
  return decodeURIComponent(path.slice("/images/".length, suffix ? -suffix.length : undefined));
}

/**
 * `X-Registry-Auth`: base64url of `{"username", "password", "serveraddress"}` (or an identity token, which a
 * registry's token endpoint would need and Drydock does not send). Empty or `{}` means none.
 * @example
 * registryAuth(btoa(JSON.stringify({ username: "me", password: "pw" }))); // { username: "me", password: "pw" }
 */
export function registryAuth(header: string | undefined): Credentials | undefined {
  if (!header) return undefined;
  let decoded: unknown;
  try {
    const base64 = header.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "=")), (ch) => ch.charCodeAt(0));
    decoded = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new EngineError("invalidArgument", "X-Registry-Auth is not base64-encoded JSON");
  }
  const auth = (decoded ?? {}) as { username?: unknown; password?: unknown };
  if (typeof auth.username !== "string" || auth.username === "") return undefined;
  return { username: auth.username, password: typeof auth.password === "string" ? auth.password : "" };
}

/**
 * The image routes.
 * @example
 * registerImageRoutes(app, { images });
 */
export function registerImageRoutes(app: Hono, options: ApiOptions): void {
  const { images } = options;

  app.get("/images/json", async (c) => {
    const filters = parseFilters(c.req.query("filters"));
    acceptFilters(filters, IMAGE_FILTERS);
    const dangling = booleanFilter(filters, "dangling");
    /** The creation time of the image a before/since filter names (dockerd's 404 if there is none). */
    const createdOf = async (key: "before" | "since") => {
      const ref = filters[key]?.at(-1);
      if (ref === undefined) return undefined;
      const details = await withImage(ref, () => images.image(ref));
      return Date.parse(details.config.created ?? "") || 0;
    };
    const before = await createdOf("before");
    const since = await createdOf("since");
    const until = filters.until?.map((value) => untilTime(value));
    const patterns = filters.reference;
    const matching = (refs: string[]) =>
      patterns ? refs.filter((ref) => patterns.some((pattern) => referenceMatches(pattern, ref))) : refs;
    const rows = [];
    for (const image of await images.images()) {
      const created = Date.parse(image.created ?? "") || 0;
      if (before !== undefined && !(created < before)) continue;
      if (since !== undefined && !(created > since)) continue;
      if (until && !until.every((time) => created <= time)) continue;
      if (dangling !== undefined && (image.repoTags.length === 0) !== dangling) continue;
      if (!labelsMatch(image.labels, filters.label)) continue;
      // As dockerd: with a reference filter an image lists only its names that match, and none means not listed.
      const repoTags = matching(image.repoTags);
      const repoDigests = matching(image.repoDigests);
      if (patterns && repoTags.length === 0 && repoDigests.length === 0) continue;
      rows.push({ ...image, repoTags, repoDigests });
    }
    const all = options.containers?.list({ all: true }) ?? [];
    // Newest first, as dockerd lists them; dockerd counts shared sizes only for system df.
    rows.sort((a, b) => (Date.parse(b.created ?? "") || 0) - (Date.parse(a.created ?? "") || 0));
    return c.json(rows.map((image) => imageSummaryJson(image, all, -1)));
  });

  app.post("/images/create", async (c) => {
    const fromImage = c.req.query("fromImage");
    if (!fromImage)
      throw new EngineError("invalidArgument", "fromImage is required (importing with fromSrc is not supported)");
    const tag = c.req.query("tag");
    const reference = tag ? `${fromImage}${tag.includes(":") ? "@" : ":"}${tag}` : fromImage;
    dockerReference(reference);
    const platform = c.req.query("platform");
    return pullResponse(
      images,
      reference,
      tag,
      registryAuth(c.req.header("X-Registry-Auth")),
      platform ? parsePlatformSpecifier(platform) : undefined,
    );
  });

  app.get("/images/*", async (c) => {
    const path = c.req.path;
    if (path === "/images/get" || path.endsWith("/get")) {
      const names = path === "/images/get" ? (c.req.queries("names") ?? []) : [imageName(path, "/get")];
      for (const name of names) await withImage(name, () => images.image(name));
      const tar = await images.save(names);
      return new Response(tar, { headers: { "content-type": "application/x-tar" } });
    }
    if (path.endsWith("/json")) {
      const name = imageName(path, "/json");
      const details = await withImage(name, () => images.image(name));
      const summary = (await images.images()).find((image) => image.id === details.record.config.digest);
      const size = details.layers.reduce((sum, layer) => sum + layer.size, 0);
      return c.json({
        Id: details.record.config.digest,
        RepoTags: summary?.repoTags ?? [],
        RepoDigests: summary?.repoDigests ?? [],
        Parent: "",
        Comment: "",
        Created: details.config.created ?? "",
        Container: "",
        DockerVersion: "",
        Author: details.config.author ?? "",
        Config: details.config.config ?? null,
        Architecture: details.config.architecture,
        Variant: details.config.variant,
        Os: details.config.os,
        Size: size,
        VirtualSize: size,
        GraphDriver: { Name: "overlay", Data: null },
        RootFS: { Type: "layers", Layers: details.config.rootfs.diff_ids },
        Metadata: { LastTagTime: details.record.pulledAt },
      });
    }
    if (path.endsWith("/history")) {
      const name = imageName(path, "/history");
      const details = await withImage(name, () => images.image(name));
      const steps = await images.history(name);
      const tags = new Map((await images.images()).map((image) => [image.id as string, image.repoTags]));
      return c.json(
        steps.map((step, index) => ({
          Id: index === 0 ? details.record.config.digest : (step.id ?? "<missing>"),
          Created: unixSeconds(step.created),
          CreatedBy: step.createdBy,
          Tags: step.id ? (tags.get(step.id) ?? []) : index === 0 ? [] : null,
          Size: step.size,
          Comment: step.comment ?? "",
        })),
      );
    }
    return errorResponse(404, "page not found");
  });

  app.post("/images/load", async (c) => {
    const body = c.req.raw.body;
    if (!body) throw new EngineError("invalidArgument", "no image archive was sent: pipe one from docker save");
    const loaded = await images.load(body);
    // As dockerd: quiet only silences progress; what was loaded is always said.
    const lines = loaded.map((image) => `${JSON.stringify({ stream: `${image.message}\n` })}\r\n`);
    return new Response(lines.join(""), { headers: { "content-type": "application/json" } });
  });

  app.post("/auth", async (c) => {
    const body = (await c.req.json().catch(() => undefined)) as
      | { username?: unknown; password?: unknown; serveraddress?: unknown }
      | undefined;
    if (!body || typeof body.username !== "string" || body.username === "") {
      throw new EngineError("invalidArgument", "a username is required to log in");
    }
    const server = typeof body.serveraddress === "string" ? body.serveraddress : undefined;
    const password = typeof body.password === "string" ? body.password : "";
    await images.login(server, { username: body.username, password });
    return c.json({ Status: "Login Succeeded", IdentityToken: "" });
  });

  // Drydock's own route (dockerd has none: its client forgets credentials by itself): the engine holds logins in
  // memory, so `docker logout` in the guest asks it to drop them.
  app.delete("/auth", (c) => {
    const removed = images.logout(c.req.query("serveraddress"));
    return c.json({ Status: removed ? "Removed login credentials" : "Not logged in" });
  });

  app.post("/images/*", async (c) => {
    const path = c.req.path;
    if (path.endsWith("/push")) {
      const name = imageName(path, "/push");
      const tag = c.req.query("tag");
      const reference = tag ? `${name}:${tag}` : name;
      dockerReference(reference);
      return pushResponse(images, reference, registryAuth(c.req.header("X-Registry-Auth")));
    }
    if (!path.endsWith("/tag")) return errorResponse(404, "page not found");
    const name = imageName(path, "/tag");
    const repo = c.req.query("repo");
    if (!repo) throw new EngineError("invalidArgument", "repo is required: the name to give the image");
    const tag = c.req.query("tag");
    const target = tag ? `${repo}:${tag}` : repo;
    // A bad new name is the client's mistake, whatever the source.
    dockerReference(target);
    await withImage(name, () => images.tag(name, target));
    return empty(201);
  });

  app.delete("/images/*", async (c) => {
    const name = imageName(c.req.path, "");
    const force = flag(c.req.query("force"));
    const details = await withImage(name, () => images.image(name));
    const id = details.record.config.digest;
    const users = options.containers?.list({ all: true }).filter((container) => container.imageId === id) ?? [];
    const otherNames = (await images.images()).find((image) => image.id === id)?.repoTags.length ?? 0;
    // As dockerd: an image a container was made from stays while the container exists (its layers are the
    // container's lower layers); taking away one of several names is always fine.
    if (users.length > 0 && !(otherNames > 1 && !name.startsWith("sha256:"))) {
      const short = id.replace(/^sha256:/, "").slice(0, 12);
      const running = users.find((container) => container.status === "running" || container.status === "paused");
      if (force && running) {
        throw new EngineError(
          "conflict",
          `conflict: unable to delete ${short} (cannot be forced) - image is being used by running container ${running.id.slice(0, 12)}`,
        );
      }
      throw new EngineError(
        "conflict",
        `conflict: unable to remove repository reference "${name}" (must remove the container first: docker rm ${users[0]!.id.slice(0, 12)}) - container ${users[0]!.id.slice(0, 12)} is using its referenced image ${short}`,
      );
    }
    // An image an `image`-driver volume serves stays while the volume exists (its layers are the volume's files),
    // forced or not, as dockerd keeps an image a running container uses.
    const served = options.containers?.volumes
      .list()
      .filter((volume) => volume.driver === "image" && volume.status?.ImageID === id);
    if (served?.length && !(otherNames > 1 && !name.startsWith("sha256:"))) {
      const short = id.replace(/^sha256:/, "").slice(0, 12);
      const names = served.map((volume) => volume.name).join(", ");
      throw new EngineError(
        "conflict",
        `conflict: unable to ${force ? `delete ${short} (cannot be forced)` : `remove repository reference "${name}" (must remove the volume first: docker volume rm ${names})`} - image is being served by volume ${names} (driver image)`,
      );
    }
    const removed = await withImage(name, () => images.removeImage(name, { force }));
    return c.json(
      removed.map((item) => ("untagged" in item ? { Untagged: item.untagged } : { Deleted: item.deleted })),
    );
  });
}

/** One of Docker's push progress lines for a layer's event. */
function pushLine(progress: PushProgress): Record<string, unknown> {
  const id = progress.id;
  switch (progress.status) {
    case "preparing":
      return { status: "Preparing", progressDetail: {}, id };
    case "waiting":
      return { status: "Waiting", progressDetail: {}, id };
    case "exists":
      return { status: "Layer already exists", progressDetail: {}, id };
    case "mounted":
      return { status: `Mounted from ${progress.from ?? ""}`, progressDetail: {}, id };
    case "pushed":
      return { status: "Pushed", progressDetail: {}, id };
    default:
      return {
        status: "Pushing",
        progressDetail: { current: progress.done, total: progress.total },
        progress: `${progressBar(progress.done, progress.total)} ${humanSize(progress.done)}/${humanSize(progress.total)}`,
        id,
      };
  }
}

/** `POST /images/{name}/push`: Docker's push lines, then each tag's digest line and its aux record. */
function pushResponse(
  images: ImageService,
  reference: string,
  credentials: Credentials | undefined,
): Promise<Response> {
  const repository = familiarReference({ ...parseReference(reference), tag: undefined, digest: undefined });
  return progressResponse(
    async (send, signal) => {
      const seen = new Map<string, string>();
      return images.push(reference, {
        signal,
        ...(credentials ? { credentials } : {}),
        onTag: () => {
          seen.clear();
          send({ status: `The push refers to repository [${repository}]` });
        },
        onProgress: (progress) => {
          const line = pushLine(progress);
          const last = seen.get(progress.id);
          if (last && last !== "Pushing" && last !== "Waiting" && last !== "Preparing") return;
          seen.set(progress.id, line.status as string);
          send(line);
        },
        onPushed: (pushed) => {
          send({ status: `${pushed.tag}: digest: ${pushed.digest} size: ${pushed.size}` });
          send({ progressDetail: {}, aux: { Tag: pushed.tag, Digest: pushed.digest, Size: pushed.size } });
        },
      });
    },
    () => {},
  );
}

/**
 * `POST /images/create`: the pull's progress as Docker's JSON lines. Like dockerd, the answer's status waits for the
 * first line, so a pull that fails at once (unknown image, registry down) is an HTTP error, not a stream.
 */
function pullResponse(
  images: ImageService,
  reference: string,
  tag: string | undefined,
  credentials: Credentials | undefined,
  platform?: Platform,
): Promise<Response> {
  const seen = new Map<string, string>();
  let headed = false;
  const head = (send: (line: Record<string, unknown>) => void) => {
    if (headed) return;
    headed = true;
    send({ status: `Pulling from ${parseReference(reference).repository}`, id: tag ?? "latest" });
  };
  return progressResponse(
    // A client that goes away stops the pull, as dockerd cancels it with the request.
    (send, signal) =>
      images.pull(reference, {
        signal,
        ...(credentials ? { credentials } : {}),
        ...(platform ? { platform } : {}),
        onProgress: (progress) => {
          head(send);
          const line = progressLine(progress);
          if (seen.get(progress.id) === "Pull complete" || seen.get(progress.id) === "Already exists") return;
          if (progress.status === "complete" && seen.get(progress.id) === "Downloading") {
            send({ status: "Download complete", progressDetail: {}, id: progress.id });
          }
          seen.set(progress.id, line.status as string);
          send(line);
        },
      }),
    (result, send) => {
      // A pull with nothing to report (up to date) still says what it pulled from.
      head(send);
      send({ status: `Digest: ${result.digest}` });
      send({
        status: result.upToDate
          ? `Status: Image is up to date for ${result.name}`
          : `Status: Downloaded newer image for ${result.name}`,
      });
    },
    "the client went away during the pull",
  );
}
