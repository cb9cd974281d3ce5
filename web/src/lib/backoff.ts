// Exponential backoff for retries and reconnects: base, 2*base, 4*base ... capped at max, with optional jitter.

export function backoffDelay(attempt: number, baseMs: number, maxMs: number, jitter = 0, random: () => number = Math.random): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.round(d * (1 - jitter + jitter * random()));
}
