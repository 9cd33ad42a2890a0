/** Exponential backoff with jitter, for anything that retries a remote peer. */
export type BackoffPolicy = { initialMs: number; maxMs: number };

/**
 * Delay before retry number `attempt` (0-based): exponential growth capped at `maxMs`, with "equal jitter"
 * (half fixed, half random) so that many hubs restarting together do not hit the IdP in lockstep while
 * each still waits at least half the nominal delay.
 */
export function backoffDelayMs(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const nominal = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
  return nominal / 2 + random() * (nominal / 2);
}
