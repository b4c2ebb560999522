import { describe, expect, it } from "vitest";
import { expandTemplate, readServiceSpec } from "./spec.ts";

describe("readServiceSpec", () => {
  it("reads what docker service create sends, with swarm's defaults", () => {
    const plan = readServiceSpec({
      Name: "web",
      TaskTemplate: { ContainerSpec: { Image: "busybox", Args: ["httpd", "-f"], StopGracePeriod: 2_000_000_000 } },
      Mode: { Replicated: { Replicas: 3 } },
      UpdateConfig: { Parallelism: 2, Delay: 1_500_000_000 },
      EndpointSpec: { Ports: [{ Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress" }] },
    });
    expect(plan).toMatchObject({ name: "web", image: "busybox", args: ["httpd", "-f"], replicas: 3 });
    expect(plan).toMatchObject({ parallelism: 2, delayMs: 1500, stopGraceSeconds: 2 });
    expect(plan.ports).toEqual([{ protocol: "tcp", targetPort: 80, publishedPort: 8080, publishMode: "ingress" }]);
    expect(
      readServiceSpec({ Name: "g", Mode: { Global: {} }, TaskTemplate: { ContainerSpec: { Image: "x" } } }).replicas,
    ).toBeUndefined();
  });

  it("names what is wrong", () => {
    expect(() => readServiceSpec({ TaskTemplate: { ContainerSpec: { Image: "x" } } })).toThrow(
      "a service needs a name",
    );
    expect(() => readServiceSpec({ Name: "web" })).toThrow("image reference must be provided");
    expect(() =>
      readServiceSpec({
        Name: "web",
        TaskTemplate: { ContainerSpec: { Image: "x" } },
        EndpointSpec: { Ports: [{ TargetPort: 80 }] },
      }),
    ).toThrow("publish a port with its number (-p 8080:80)");
  });

  it("expands swarm's templates", () => {
    expect(
      expandTemplate("{{.Node.Hostname}}/{{.Task.Slot}}/{{.Other.X}}", { "Node.Hostname": "node2", "Task.Slot": "1" }),
    ).toBe("node2/1/{{.Other.X}}");
  });
});
