// Several guests in one engine: an Ethernet switch that learns MAC addresses (switch.ts) and the nodes on it, each a
// guest restored from the same saved state and given its own identity (cluster.ts); routes between the nodes'
// container address blocks (routes.ts); a card and an Engine API reached across workers (message-link.ts, api-link.ts).

export { type ApiPort, apiOverPort, serveApiOverPort } from "./api-link.ts";
export {
  applyIdentity,
  Cluster,
  type ClusterNode,
  MAX_NODES,
  NODE_SUBNET,
  type NodeIdentity,
  nodeIdentity,
  ROUTER_ADDRESS,
  ROUTER_MAC,
} from "./cluster.ts";
export { type FramePort, frameLinkOverPort, patchLinks } from "./message-link.ts";
export {
  DRYDOCK_TOOL_PATH,
  DRYDOCK_TOOL_SCRIPT,
  FIRST_NODE_BLOCK,
  type ListedNode,
  LOCAL_DOCKER_HOST,
  LONE_NODE_ADDRESS,
  NODE_DOCKER_PORT,
  type NodeKeeper,
  nodeAtHost,
  runNodeCommand,
} from "./node-command.ts";
export {
  type BlockRoute,
  blockRouteCommands,
  nodeAddressSpace,
  nodeRoutes,
  routeBlocks,
  routeToNodes,
} from "./routes.ts";
export {
  DEFAULT_AGEING_MS,
  EthernetSwitch,
  formatMac,
  parseMac,
  type SwitchCounters,
  type SwitchOptions,
  type SwitchPort,
  type SwitchPortOptions,
} from "./switch.ts";
