// `docker version`: this CLI's version and the daemon's, through docker's own template and column layout.
import { CLIENT_API_VERSION } from "./client.ts";
import { defineVerb } from "./command.ts";
import { CliError } from "./errors.ts";
import { compileTemplate, renderTemplate } from "./format.ts";
import { tabwrite } from "./table.ts";

/** Who this CLI is, where docker would print its Go build. */
export const CLIENT_VERSION = "0.1.0";

// docker 20.10's versionTemplate, with the non-Engine components' details in key order.
const VERSION_TEMPLATE = `{{with .Client -}}
Client:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 Version:\t{{.Version}}
 API version:\t{{.APIVersion}}{{if ne .APIVersion .DefaultAPIVersion}} (downgraded from {{.DefaultAPIVersion}}){{end}}
 Go version:\t{{.GoVersion}}
 Git commit:\t{{.GitCommit}}
 Built:\t{{.BuildTime}}
 OS/Arch:\t{{.Os}}/{{.Arch}}
 Context:\t{{.Context}}
 Experimental:\t{{.Experimental}}
{{- end}}

{{- if .ServerOK}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:\t{{.Version}}
  API version:\t{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Go version:\t{{index .Details "GoVersion"}}
  Git commit:\t{{index .Details "GitCommit"}}
  Built:\t{{index .Details "BuildTime"}}
  OS/Arch:\t{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:\t{{index .Details "Experimental"}}
  {{- else }}
  Version:\t{{$component.Version}}
  {{- range $key, $value := $component.Details}}
  {{$key}}:\t{{$value}}
  {{- end}}
  {{- end}}
 {{- end}}
 {{- end}}{{- end}}`;

export const version = defineVerb(
  {
    name: "version",
    usage: "[OPTIONS]",
    summary: "Show the Docker version information",
    args: { max: 0 },
    flags: [
      { name: "format", short: "f", type: "string", help: "Format the output using the given Go template" },
    ] as const,
  },
  async (context) => {
    const client = await context.client();
    const clientInfo = {
      Platform: { Name: "Drydock" },
      Version: CLIENT_VERSION,
      APIVersion: client.version,
      DefaultAPIVersion: CLIENT_API_VERSION,
      GoVersion: "TypeScript",
      GitCommit: "drydock",
      BuildTime: "",
      Os: "js",
      Arch: "any",
      Context: "default",
      Experimental: true,
    };
    let server: Record<string, unknown> | undefined;
    let serverError: unknown;
    try {
      server = await client.json<Record<string, unknown>>("GET", "/version");
    } catch (error) {
      serverError = error;
    }
    // Templates name Go's fields: the JSON's ApiVersion is types.Version's APIVersion.
    if (server && server.APIVersion === undefined) server.APIVersion = server.ApiVersion;
    const data = { Client: clientInfo, Server: server ?? null, ServerOK: server !== undefined };
    const template = compileTemplate(context.flags.format || VERSION_TEMPLATE);
    const text = `${renderTemplate(template, data)}\n`;
    await context.out.write(context.flags.format ? text : tabwrite(text, { minWidth: 20, padding: 1 }));
    if (serverError) throw serverError instanceof CliError ? serverError : new CliError(String(serverError));
    return 0;
  },
);
