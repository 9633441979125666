// JSON over HTTP with a timeout and errors that say which source failed and how.
export class SourceError extends Error {
  override name = 'SourceError';
}

export async function fetchJson<T>(url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<T> {
  const { timeoutMs = 10_000, ...rest } = init;
  const origin = new URL(shownUrl(url)).origin;
  let res: Response;
  try {
    res = await fetchWithCredentials(url, { ...rest, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new SourceError(`${origin} unreachable: ${cause ?? (err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new SourceError(`${origin} answered ${res.status}: ${text.slice(0, 300)}`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new SourceError(`${origin} answered ${res.status} with a body that is not JSON`);
  }
}

/**
 * fetch, with a URL's `user:password` sent as Basic authorization instead: Node refuses them in the
 * URL and would name them in its error, which lands in history and the incident's record.
 */
export function fetchWithCredentials(url: string, init: RequestInit = {}): Promise<Response> {
  const target = new URL(url);
  if (!target.username && !target.password) return fetch(target, init);
  const headers = new Headers(init.headers);
  const user = `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`;
  if (!headers.has('authorization')) headers.set('authorization', `Basic ${Buffer.from(user).toString('base64')}`);
  return fetch(shownUrl(url), { ...init, headers });
}

/** A URL as it may be shown and recorded: without its user and password. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(not a valid URL)';
  }
}

/** A diagnostic result: the data, or why it could not be had. The runbook records either. */
export type Observed<T> =
  { available: true; data: T; query?: string } | { available: false; reason: string; query?: string };

export async function observe<T>(run: () => Promise<T>, query?: string): Promise<Observed<T>> {
  try {
    return { available: true, data: await run(), query };
  } catch (err) {
    return { available: false, reason: (err as Error).message, query };
  }
}

/**
 * Fills `{service}` and `{environment}` in a PromQL or LogQL template, once, each escaped as the
 * inside of a double-quoted string (the templates put them in `label="..."` matchers). An alert's
 * label value cannot close the quote and rewrite the query, nor be filled again.
 */
export function fill(template: string, scope: { service: string; environment: string }): string {
  return template.replace(/\{(service|environment)\}/g, (_, name: 'service' | 'environment') => quoted(scope[name]));
}

/** A string's inside for a PromQL/LogQL double-quoted literal (Go escapes). */
function quoted(value: string): string {
  return value.replace(
    /[\\"\n\r\t]/g,
    (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c] ?? c,
  );
}
