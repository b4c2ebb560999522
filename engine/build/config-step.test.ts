import { describe, expect, it } from "vitest";
import type { ImageConfig } from "../oci/index.ts";
import { applyConfigStep } from "./builder.ts";
import { parseDockerfile } from "./dockerfile.ts";

/** Applies each instruction of `lines` to a busybox-like config, as build steps do. */
function apply(
  lines: string[],
  config: ImageConfig = base(),
): { config: ImageConfig; createdBy: (string | undefined)[] } {
  const { stages } = parseDockerfile(`FROM scratch\n${lines.join("\n")}\n`);
  const createdBy = stages[0]!.steps.map((step, i, steps) =>
    applyConfigStep(step, config, {
      expand: (text) => text.replace(/\$NAME/g, "drydock"),
      cmdSetInStage: steps.slice(0, i).some((s) => s.keyword === "CMD"),
    }),
  );
  return { config, createdBy };
}

const base = (): ImageConfig => ({
  architecture: "386",
  os: "linux",
  config: { Cmd: ["sh"], Env: ["PATH=/bin"] },
  rootfs: { type: "layers", diff_ids: [] },
});

describe("applyConfigStep: instructions that change only the config", () => {
  it("stores HEALTHCHECK with its durations in nanoseconds, and ONBUILD triggers", () => {
    const { config } = apply([
      "HEALTHCHECK --interval=5s --timeout=1m30s --start-period=500ms --retries=3 CMD wget -q -O- localhost || exit 1",
      "ONBUILD COPY . /src",
      "ONBUILD RUN make",
    ]);
    expect(config.config?.Healthcheck).toEqual({
      Test: ["CMD-SHELL", "wget -q -O- localhost || exit 1"],
      Interval: 5e9,
      Timeout: 90e9,
      StartPeriod: 5e8,
      Retries: 3,
    });
    expect(config.config?.OnBuild).toEqual(["COPY . /src", "RUN make"]);
    expect(apply(['HEALTHCHECK CMD ["true"]']).config.config?.Healthcheck).toEqual({ Test: ["CMD", "true"] });
    expect(apply(["HEALTHCHECK NONE"]).config.config?.Healthcheck).toEqual({ Test: ["NONE"] });
    expect(() => apply(["ONBUILD FROM busybox"])).toThrow("FROM isn't allowed as an ONBUILD trigger");
  });

  it("sets ENV (expanded), LABEL, EXPOSE, VOLUME, USER, STOPSIGNAL and SHELL, and names each in the history", () => {
    const { config, createdBy } = apply([
      "ENV GREETING=hi-$NAME",
      'LABEL org.example.title="a title"',
      "EXPOSE 80 53/udp",
      'VOLUME ["/data"]',
      "USER nobody",
      "STOPSIGNAL SIGINT",
      'SHELL ["/bin/ash", "-eo", "pipefail", "-c"]',
      "CMD echo $GREETING",
    ]);
    expect(config.config).toMatchObject({
      Env: ["PATH=/bin", "GREETING=hi-drydock"],
      Labels: { "org.example.title": "a title" },
      ExposedPorts: { "80/tcp": {}, "53/udp": {} },
      Volumes: { "/data": {} },
      User: "nobody",
      StopSignal: "SIGINT",
      Shell: ["/bin/ash", "-eo", "pipefail", "-c"],
      Cmd: ["/bin/ash", "-eo", "pipefail", "-c", "echo $GREETING"],
    });
    expect(createdBy[0]).toBe("/bin/sh -c #(nop)  ENV GREETING=hi-drydock");
    expect(createdBy[7]).toBe('/bin/sh -c #(nop)  CMD ["/bin/ash","-eo","pipefail","-c","echo $GREETING"]');
    expect(() => apply(["EXPOSE eighty"])).toThrow("invalid containerPort: eighty");
  });

  it("drops the base image's CMD when ENTRYPOINT is set, but keeps a CMD set earlier in the same stage", () => {
    expect(apply(['ENTRYPOINT ["/app"]']).config.config).toMatchObject({ Entrypoint: ["/app"] });
    expect(apply(['ENTRYPOINT ["/app"]']).config.config?.Cmd).toBeUndefined();
    expect(apply(['CMD ["--help"]', 'ENTRYPOINT ["/app"]']).config.config).toMatchObject({
      Entrypoint: ["/app"],
      Cmd: ["--help"],
    });
  });

  it("is not for instructions that make layers or need a container", () => {
    expect(apply(["RUN true", "COPY a b", "WORKDIR /x"]).createdBy).toEqual([undefined, undefined, undefined]);
  });
});
