// Verbs that act on several containers or images one by one (stop, kill, rm, rmi…): each success prints its name,
// each failure is kept, and the failures end the command together, as docker does.
import type { CommonContext } from "./command.ts";
import { CliError, CommandStopped, describeFailure } from "./errors.ts";

/**
 * Runs `act` for every name in order; prints each name that succeeded (or the lines `act` returns), then fails with all messages joined.
 * `onFailure` may swallow a failure (return true) after reporting it itself.
 * @example
 * await eachTarget(context, context.args, (name) => client.call("POST", `/containers/${name}/pause`));
 */
export async function eachTarget(
  context: CommonContext,
  names: string[],
  act: (name: string) => Promise<unknown>,
  onFailure?: (error: unknown, name: string) => Promise<boolean>,
): Promise<undefined> {
  const failures: string[] = [];
  for (const name of names) {
    try {
      const lines = await act(name);
      for (const line of Array.isArray(lines) ? (lines as string[]) : [name]) await context.out.line(line);
    } catch (error) {
      if (error instanceof CommandStopped) throw error;
      if (onFailure && (await onFailure(error, name))) continue;
      failures.push(describeFailure(error).message);
    }
  }
  if (failures.length > 0) throw new CliError(failures.join("\n"));
  return undefined;
}
