// Container networking as dockerd does it: the networks and their IPAM (store.ts), published ports (ports.ts), the
// /etc files of a container (files.ts), the embedded DNS server's answers (dns.ts), and networking.ts, which brings a
// container's network up and down in the guest. guest.ts is the boundary to the guest kernel (bridges, namespaces,
// veth pairs, dockerd's iptables rules from iptables.ts, policy routing, the userland proxy, DNS sockets), implemented
// over the agent.
export { formatIpv4, isIpv4, macOf, parseIpv4, parseSubnet } from "./addresses.ts";
export { answerDns, DNS_TTL, type DnsNames, type DnsUpstream } from "./dns.ts";
export { type ExtraHost, hostsFile, parseExtraHost, type ResolverKind, resolvConf } from "./files.ts";
export { AgentGuestNetwork, type GuestNetwork, NETNS_DIR, sandboxPath } from "./guest.ts";
export {
  type ContainerNetworkRequest,
  EMBEDDED_DNS,
  Networking,
  type NetworkingOptions,
  type NetworkSetup,
  type PeerLookup,
  type StartingContainer,
} from "./networking.ts";
export {
  checkPortBindings,
  EPHEMERAL_PORTS,
  PortAllocator,
  type PortBinding,
  type PortBindings,
  type Protocol,
  type PublishedPort,
  parseHostPort,
  parsePortKey,
  readPortBindings,
} from "./ports.ts";
export { endpointCounters, type InterfaceCounters, parseNetDev } from "./stats.ts";
export {
  type Endpoint,
  type EndpointConfig,
  type IpamConfig,
  type Network,
  type NetworkCreateRequest,
  type NetworkDriver,
  type NetworkMode,
  NetworkStore,
  parseNetworkMode,
} from "./store.ts";
