// Polling with a deadline, for things that become true eventually (a server up, a pod Running).
import { sleep } from "./processes.ts";

/** Thrown by a check when waiting longer cannot help (e.g. the process being awaited has exited). */
export class GiveUp extends Error {}

/**
 * Polls `check` until it returns a value (not undefined) or the timeout passes; the error then says
 * what was awaited and the last observation.
 */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
  lastSeen: () => string = () => "",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (true) {
    try {
      const value = await check();
      if (value !== undefined) return value;
      lastError = "";
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      lastError = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) {
      const seen = lastError || lastSeen();
      throw new Error(
        `testbed: timed out after ${timeoutMs / 1000}s waiting for ${what}${seen ? `: ${seen}` : ""}`,
      );
    }
    await sleep(250);
  }
}
