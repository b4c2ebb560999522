// What the worker reports for each conformance case, and the page hands to the test.

export interface CaseResult {
  /** `content store` or `metadata store`. */
  suite: string;
  /** The case's name, as in test/conformance/. */
  name: string;
  ok: boolean;
  /** The failure's message and stack, when it failed. */
  error?: string;
  ms: number;
}

/** Where the page puts the worker's results (a promise) for the test to await. */
export const RESULTS_GLOBAL = "drydockConformance";
