// A swarm over a cluster's nodes: the managers' state and its reconcile loop (manager.ts), the scheduler's pure
// decisions (scheduler.ts), the service spec as the Engine API sends it (spec.ts) and what it asks of each node's
// engine (node-engine.ts).
export {
  type Availability,
  RESTART_DELAY_MS,
  type Role,
  SWARM_ERRORS,
  SWARM_PORT,
  type SwarmInfo,
  SwarmManager,
  type SwarmManagerOptions,
  type SwarmMember,
  type SwarmNetwork,
  type SwarmNode,
  type SwarmService,
  type SwarmTask,
  swarmId,
  TASK_HISTORY,
  type TaskState,
} from "./manager.ts";
export {
  localNodeEngine,
  type MeshPort,
  type OverlayNetworkSpec,
  type ServiceNames,
  type SwarmNodeEngine,
  type TaskContainerState,
} from "./node-engine.ts";
export {
  type Candidate,
  type Constraint,
  eligibleNodes,
  type Load,
  noSuitableNode,
  parseConstraints,
  pickNode,
  satisfies,
} from "./scheduler.ts";
export { expandTemplate, readServiceSpec, type ServicePlan, type ServicePort } from "./spec.ts";
