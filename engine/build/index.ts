// docker build: a Dockerfile (parsed with dockerfile-ast) and a build context (a tar, less .dockerignore) become an
// image, step by step as Docker's classic builder makes one, with RUN in real containers of the guest and a build
// cache of untagged step images.
export { Builder, type BuildOptions, type BuildResult } from "./builder.ts";
export { type CommitOptions, commitContainer } from "./commit.ts";
export { type BuildContext, type ContextEntry, cleanPath, dockerignore, readBuildContext } from "./context.ts";
export { expandVariables, type ParsedDockerfile, parseDockerfile, type Stage, type Step } from "./dockerfile.ts";
