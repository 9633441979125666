// What a configured action will do, in words, with its `{name}` placeholders filled. Pure: the
// workflow shows it in the approval prompt, the activity checks it again before it runs (so what
// was approved is what runs), and the config loader refuses placeholders nothing can fill.
import type { ActionConfig } from './schema';

/** The parts of an action that say what it does (no timeouts, working directory or env names). */
export type ActionSpec = Pick<ActionConfig, 'run' | 'undo' | 'flag' | 'providerKey'>;

const PLACEHOLDER = /\{(\w+)\}/g;

/** Fills `{name}` in strings, arrays and objects from `vars`; unknown names stay as written. */
export function fillVars<T>(value: T, vars: Record<string, string>): T {
  const fill = (text: string) => text.replace(PLACEHOLDER, (m, name: string) => vars[name] ?? m);
  if (typeof value === 'string') return fill(value) as T;
  if (Array.isArray(value)) return value.map((v) => fillVars(v, vars)) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillVars(v, vars)])) as T;
  return value;
}

/** The `{name}` placeholders in a value, each once. */
export function placeholders(value: unknown): string[] {
  const names = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v === 'string') for (const m of v.matchAll(PLACEHOLDER)) names.add(m[1]);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(value);
  return [...names];
}

export interface ActionPlan {
  /** What will run, filled: an argv, a flag change, an Admin API call. */
  what: string;
  /** Placeholders this incident has no value for: the action cannot run as configured. */
  unfilled: string[];
}

/** The plan for one phase of an action; undefined when that phase has nothing configured. */
export function planAction(
  spec: ActionSpec | undefined,
  phase: 'apply' | 'undo',
  vars: Record<string, string>,
): ActionPlan | undefined {
  if (!spec) return undefined;
  if (phase === 'undo') {
    // A flag change is undone by putting the row back as it was; a command by its undo command.
    if (spec.flag) return plan(`restore feature_flags.${spec.flag.feature} as it was before`, spec.flag.feature);
    return spec.undo ? plan(spec.undo.join(' '), spec.undo) : undefined;
  }
  if (spec.run) return plan(spec.run.join(' '), spec.run);
  if (spec.flag) {
    const f = spec.flag;
    const change = `enabled=${f.enabled}${f.value !== undefined ? ` value=${f.value}` : ''}`;
    const when =
      f.whenLastHourCostAbove !== undefined ? ` if the last hour cost more than $${f.whenLastHourCostAbove}` : '';
    return plan(`set feature_flags.${f.feature} ${change}${when}`, f);
  }
  if (spec.providerKey) {
    const k = spec.providerKey;
    return plan(`set the provider API key ${k.keyId} ${k.status} (Admin API)`, k);
  }
  return undefined;

  function plan(template: string, source: unknown): ActionPlan {
    const filled = fillVars(source, vars);
    return { what: fillVars(template, vars), unfilled: placeholders(filled) };
  }
}

/** Only the descriptive parts: what a workflow input carries of the configured actions. */
export function actionSpecs(actions: Record<string, ActionConfig>): Record<string, ActionSpec> {
  return Object.fromEntries(
    Object.entries(actions).map(([step, a]) => [
      step,
      {
        ...(a.run ? { run: a.run } : {}),
        ...(a.undo ? { undo: a.undo } : {}),
        ...(a.flag ? { flag: a.flag } : {}),
        ...(a.providerKey ? { providerKey: a.providerKey } : {}),
      },
    ]),
  );
}

/** What a diagnosis may name for its mitigation to act on (Cause.vars), beside the runbook's parameters. */
export const DIAGNOSIS_VARS = [
  'feature',
  'tool',
  'trafficScope',
  'topUsers',
  'route',
  'version',
  'circuitBreakerRecoverySeconds',
] as const;

/** Every incident fills these two. */
export const INCIDENT_VARS = ['service', 'environment'] as const;
