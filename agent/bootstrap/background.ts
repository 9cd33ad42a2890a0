/**
 * Runs the bootstrap beside the tunnel, never in its way: started once the hub is reachable, retried
 * with backoff while it fails (the apiserver may be busy, RBAC may be fixed later), and stopped with
 * the agent. A failure is logged and leaves the tunnel alone.
 */
import { backoffDelayMs, type BackoffPolicy } from "../../shared/backoff.ts";
import type { Logger } from "../../shared/log.ts";

export interface BackgroundBootstrap {
  /** Starts the first run; later calls do nothing. */
  start(): void;
  /** Resolves once the bootstrap has succeeded. */
  readonly done: Promise<void>;
  /** Ends a run in progress or a wait between runs, and waits for it. */
  stop(): Promise<void>;
}

export const defaultBootstrapBackoff: BackoffPolicy = { initialMs: 5_000, maxMs: 5 * 60_000 };

export function backgroundBootstrap(
  run: (signal: AbortSignal) => Promise<void>,
  log: Logger,
  backoff: BackoffPolicy = defaultBootstrapBackoff,
): BackgroundBootstrap {
  const stopping = new AbortController();
  let loop: Promise<void> | undefined;
  let succeeded!: () => void;
  const done = new Promise<void>((resolve) => succeeded = resolve);

  const attempts = async () => {
    for (let attempt = 0; !stopping.signal.aborted; attempt++) {
      try {
        await run(stopping.signal);
        succeeded();
        return;
      } catch (error) {
        if (stopping.signal.aborted) return;
        const retryMs = Math.round(backoffDelayMs(attempt, backoff));
        log.error("bootstrap failed; the tunnel stays up", {
          error: (error as Error).message,
          attempt: attempt + 1,
          retry_in_ms: retryMs,
        });
        await sleep(retryMs, stopping.signal);
      }
    }
  };

  return {
    start() {
      loop ??= attempts();
    },
    done,
    async stop() {
      stopping.abort(new Error("the agent is stopping"));
      await loop;
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(finish, ms);
    function finish() {
      signal.removeEventListener("abort", finish);
      clearTimeout(timer);
      resolve();
    }
    signal.addEventListener("abort", finish, { once: true });
  });
}
