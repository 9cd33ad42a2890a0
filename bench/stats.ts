/** Latency samples → the numbers a benchmark table shows. */

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function summarize(samplesMs: number[]): LatencySummary {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { count: sorted.length, p50Ms: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), maxMs: sorted.at(-1) ?? 0 };
}

/**
 * Runs `call` `warmup` times unmeasured, then `count` times in sequence, timing each; with `idleBeforeMs`,
 * each timed call comes after that long (untimed) with nothing sent.
 */
export async function timeSequential(
  call: () => Promise<unknown>,
  count: number,
  warmup: number,
  idleBeforeMs = 0,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await call();
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    if (idleBeforeMs > 0) await new Promise((resolve) => setTimeout(resolve, idleBeforeMs));
    const started = performance.now();
    await call();
    samples.push(performance.now() - started);
  }
  return samples;
}
