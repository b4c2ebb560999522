// Trace: typed events for every step the engine performs, each phrased as the Linux command or HTTP request behind
// it (`mount -t overlay …`, `echo 67108864 > …/memory.max`, `clone(CLONE_NEWPID|…)`), so a learner can follow along
// and repeat it by hand. Subscribing returns the function that unsubscribes.
export { commandOf, shellQuote, signalName, type TraceAction, type TraceEvent } from "./events.ts";
export { Tracer } from "./tracer.ts";
