// Keeping a guest: notice when it fails (drydockd killed or restarted, the kernel panicking) and bring up a fresh one
// from the saved state, with the same image store, so the engine keeps answering.
export { type GuestFault, GuestSupervisor, type GuestSupervisorOptions } from "./guest-supervisor.ts";
