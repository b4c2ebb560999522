// Container networking. guest.ts is the boundary to the guest kernel (bridges, namespaces, veth pairs, policy
// routing, the userland proxy, DNS sockets), implemented over the agent by AgentGuestNetwork.
export { AgentGuestNetwork, type GuestNetwork, NETNS_DIR, sandboxPath } from "./guest.ts";
