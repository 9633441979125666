// Alert routing with Alertmanager's matcher syntax and semantics: RE2 regexes anchored to the
// whole label value, an absent label matching as the empty string, first matching route wins.
import { RE2 } from 're2-wasm';
import { RUNBOOK_IDS, type RunbookId } from '../workflows/definitions';
import type { Config } from './schema';

type Op = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  name: string;
  op: Op;
  value: string;
  test(labels: Record<string, string>): boolean;
}

const MATCHER = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s]*))\s*$/;

export function parseMatcher(text: string): Matcher {
  const m = MATCHER.exec(text);
  if (!m)
    throw new Error(`bad matcher ${JSON.stringify(text)}: expected name=value, name!=value, name=~"re" or name!~"re"`);
  const [, name, op, quoted, bare] = m;
  const value = quoted !== undefined ? (JSON.parse(`"${quoted}"`) as string) : bare;
  let regex: RE2 | undefined;
  if (op === '=~' || op === '!~') {
    try {
      regex = new RE2(`^(?:${value})$`, 'u');
    } catch (err) {
      throw new Error(`bad regex in matcher ${JSON.stringify(text)}: ${(err as Error).message}`);
    }
  }
  return {
    name,
    op: op as Op,
    value,
    test(labels) {
      const actual = labels[name] ?? '';
      switch (op) {
        case '=':
          return actual === value;
        case '!=':
          return actual !== value;
        case '=~':
          return regex!.test(actual);
        default:
          return !regex!.test(actual);
      }
    },
  };
}

export interface RouteDecision {
  runbook?: RunbookId;
  params: Record<string, unknown>;
  /** Why nothing was started, when runbook is undefined. */
  reason?: string;
  via: 'label' | 'annotation' | 'route' | 'none';
}

export class Router {
  private constructor(
    private readonly routes: { matchers: Matcher[]; runbook: RunbookId; params: Record<string, unknown> }[],
  ) {}

  static fromConfig(config: Config): Router {
    return new Router(
      config.routes.map((r, i) => {
        try {
          return { matchers: r.match.map(parseMatcher), runbook: r.runbook, params: r.params };
        } catch (err) {
          throw new Error(`routes.${i}.match: ${(err as Error).message}`);
        }
      }),
    );
  }

  route(labels: Record<string, string>, annotations: Record<string, string> = {}): RouteDecision {
    const named = labels.runbook ?? annotations.runbook;
    if (named !== undefined) {
      const via = labels.runbook !== undefined ? 'label' : 'annotation';
      if ((RUNBOOK_IDS as readonly string[]).includes(named)) return { runbook: named as RunbookId, params: {}, via };
      return { params: {}, via, reason: `unknown runbook "${named}" named by the alert's ${via}` };
    }
    for (const r of this.routes) {
      if (r.matchers.every((m) => m.test(labels))) return { runbook: r.runbook, params: r.params, via: 'route' };
    }
    return { params: {}, via: 'none', reason: 'no route matches the alert' };
  }
}
