// The registry the engine serves from its own content store (distribution API, pull and push, with notifications),
// reached in-process by the engine's registry client under a name like `localhost:5000`. The client side of the
// protocol, push included, is engine/registry.
export {
  DistributionRegistry,
  type DistributionRegistryOptions,
  EVENTS_MEDIA_TYPE,
  type RegistryEnvelope,
  type RegistryEvent,
  type RegistryRepository,
  type RegistryTag,
} from "./registry.ts";
