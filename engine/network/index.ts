// Container networking. guest.ts is the boundary to the guest kernel (bridges, namespaces, veth pairs, policy
// routing, the userland proxy, DNS sockets), implemented over the agent.
export type { GuestNetwork } from "./guest.ts";
