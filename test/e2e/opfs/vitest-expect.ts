// Stands in for `vitest` in the browser bundle (a Vite alias in test/e2e/opfs-content.test.ts): the conformance cases
// import `expect` from vitest, and this is vitest's own expect (its Jest-style matchers as a chai plugin), without
// the test runner, which needs Node. The cases are run by worker.ts, so describe and it are not needed here.
import { chai, JestAsymmetricMatchers, JestChaiExpect, JestExtend } from "@vitest/expect";

chai.use(JestExtend);
chai.use(JestChaiExpect);
chai.use(JestAsymmetricMatchers);

export const expect = chai.expect;

function runnerOnly(name: string): never {
  throw new Error(`${name}() needs the vitest runner; in the browser, worker.ts runs the case lists`);
}
export const describe = (): never => runnerOnly("describe");
export const it = (): never => runnerOnly("it");
