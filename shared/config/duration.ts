/** Durations as users write them: `10` (seconds), `500ms`, `10s`, `2m`, `1h`, `1m30s`. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PLAIN_SECONDS = /^\d+(\.\d+)?$/;
const WITH_UNITS = /^(\d+(\.\d+)?(ms|s|m|h))+$/;
const ONE_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

export const DURATION_HINT = "expected a duration such as 10s, 500ms, 2m, 1m30s or a number of seconds";

/** Milliseconds, or a reason the text is not a duration. */
export function parseDuration(text: string): { ms: number } | { reason: string } {
  if (PLAIN_SECONDS.test(text)) return { ms: Math.round(Number(text) * 1000) };
  if (!WITH_UNITS.test(text)) return { reason: DURATION_HINT };
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(ONE_PART)) ms += Number(amount) * UNIT_MS[unit];
  return { ms: Math.round(ms) };
}
