// Durations in runbook parameters are written as the seeds write them: "15m", "1h", "7d".
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export type DurationInput = string | number;

export function toMs(value: DurationInput): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`invalid duration: ${value}`);
    return value;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/.exec(value);
  if (!match) throw new Error(`invalid duration "${value}": use a number and one of ms, s, m, h, d, w`);
  return Math.round(Number(match[1]) * UNIT_MS[match[2]]);
}

export function formatMs(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
