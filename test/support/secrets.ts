// The secret values the suite hands to the code under test: webhook and responder tokens, the
// decision signing key, API and admin keys, passwords in URLs. Each is made by `secret(name)`: a
// distinctive random value, recorded (name and value) in the file `npm test` names in
// TEST_SECRETS_FILE, so that after the last test file test/run.ts can look for every one of them in
// the run's workflow histories, tables and output (test/support/secret-scan.ts).
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** In every value `secret()` makes: what the scan screens for first, in SQL and in text. */
export const SECRET_MARKER = 'suitesecret';

export const SECRETS_FILE_ENV = 'TEST_SECRETS_FILE';

export interface RegisteredSecret {
  /** what it is, e.g. WEBHOOK_TOKEN: the scan names it, never prints its value */
  name: string;
  value: string;
  /** the test file that made it */
  origin?: string;
}

/**
 * Values set in code not made by `secret()` (other engineers' stand-ins), matched as written:
 * the SMTP stand-in's URL credentials and the Redis test's URL password.
 */
export const FIXED_SECRETS: RegisteredSecret[] = [
  { name: 'SMTP_URL credentials (smtp-standin)', value: 'runbooks:secret' },
  { name: 'REDIS_URL password (redis-info test)', value: ':hunter2@' },
];

function testFile(): string | undefined {
  const file = process.argv.find((a) => a.endsWith('.test.ts'));
  return file ? path.relative(path.join(__dirname, '..', '..'), path.resolve(file)) : undefined;
}

/**
 * A secret for the code under test, e.g. `secret('ANTHROPIC_API_KEY', 'sk-ant-api03-')`:
 * `<prefix>suitesecret-<24 hex>`, letters, digits and dashes only (the same in a URL, JSON or SQL).
 */
export function secret(name: string, prefix = ''): string {
  const value = `${prefix}${SECRET_MARKER}-${randomBytes(12).toString('hex')}`;
  const file = process.env[SECRETS_FILE_ENV];
  if (file) appendFileSync(file, `${JSON.stringify({ name, value, origin: testFile() } satisfies RegisteredSecret)}\n`);
  return value;
}

/** The secrets recorded in `file` so far, with the fixed ones. */
export function registeredSecrets(file: string | undefined): RegisteredSecret[] {
  const recorded: RegisteredSecret[] = [];
  if (file) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      /* nothing recorded */
    }
    for (const line of text.split('\n')) if (line.trim()) recorded.push(JSON.parse(line) as RegisteredSecret);
  }
  return [...recorded, ...FIXED_SECRETS];
}
