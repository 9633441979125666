// `npm test`: starts what the suite shares (a Temporal dev server with the search attributes, an
// embedded Postgres unless TEST_DATABASE_URL is set, the time-skipping server's binary), then runs
// every test file with Node's test runner, one file at a time; then looks for every secret value
// the tests used in what the run left behind (test/support/secret-scan.ts).
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { Pool } from 'pg';
import { migrate } from '../activities/db/migrate';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../dev/postgres';
import { PROJECT_ROOT, startDevServer, testServerExecutable } from '../dev/temporal-binaries';
import { databaseUrls, describeFinding, scanSuite } from './support/secret-scan';
import { registeredSecrets, SECRETS_FILE_ENV } from './support/secrets';
import { WORKFLOWS_PATH } from '../worker/build';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';

const log = (line: string) => console.log(`[test] ${line}`);
const quiet = new DefaultLogger('WARN');

/** The whole suite takes under 10 minutes; far past that, something hangs. */
const SUITE_LIMIT_MINUTES = Number(process.env.TEST_SUITE_LIMIT_MINUTES ?? 30);

function testFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) return name === 'support' ? [] : testFiles(full);
      return name.endsWith('.test.ts') ? [full] : [];
    })
    .sort();
}

async function main(): Promise<number> {
  const filter = process.argv.slice(2);
  const files = testFiles(path.join(PROJECT_ROOT, 'test')).filter(
    (f) => filter.length === 0 || filter.some((x) => f.includes(x)),
  );
  const env: NodeJS.ProcessEnv = { ...process.env };
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'runbooks-test-'));
  // As root, embedded Postgres runs as its own `postgres` user, which must reach the data folder.
  chmodSync(scratch, 0o755);
  const temporal = await startDevServer({ searchAttributes: SEARCH_ATTRIBUTES, log });
  env.TEMPORAL_ADDRESS = temporal.env.connection.options.address;
  env.TEMPORAL_NAMESPACE = 'default';
  env.TEMPORAL_CLI_PATH ??= temporal.binary.startsWith('/') ? temporal.binary : undefined;
  log(`Temporal dev server (${temporal.binary}) on ${env.TEMPORAL_ADDRESS}`);
  const testServer = await testServerExecutable(log);
  if (testServer.type === 'existing-path') env.TEMPORAL_TEST_SERVER_PATH = testServer.path;
  log(`time-skipping test server: ${testServer.type === 'existing-path' ? testServer.path : 'SDK download'}`);
  let db: EmbeddedDatabase | undefined;
  if (env.TEST_DATABASE_URL) {
    env.DATABASE_URL = env.TEST_DATABASE_URL;
  } else {
    db = await startEmbeddedPostgres(path.join(scratch, 'postgres'), 'runbooks_test', 0);
    env.DATABASE_URL = db.url;
  }
  delete env.TELEMETRY_DATABASE_URL;
  const pool = new Pool({ connectionString: env.DATABASE_URL });
  await migrate(pool, 'store');
  await migrate(pool, 'telemetry');
  await pool.end();
  log(`Postgres: ${env.DATABASE_URL}`);
  // One workflow bundle for every worker of the suite, instead of one per worker (seconds each).
  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quiet });
  env.TEST_WORKFLOW_BUNDLE = path.join(scratch, 'workflow-bundle.js');
  writeFileSync(env.TEST_WORKFLOW_BUNDLE, bundle.code);
  // The secrets the tests make are recorded here, and their output (TAP) kept here, for the scan.
  const secretsFile = path.join(scratch, 'secrets.jsonl');
  env[SECRETS_FILE_ENV] = secretsFile;
  const output = path.join(scratch, 'output.tap');
  // A database server of one's own is the suite's; on a given one, its database and those made meanwhile.
  const databasesBefore = db ? undefined : await databaseUrls(env.DATABASE_URL);
  try {
    const child = spawn(
      process.execPath,
      [
        ...['--import', 'tsx', '--test', '--test-concurrency=1'],
        // A hung test fails after 5 minutes instead of holding CI.
        '--test-timeout=300000',
        ...['--test-reporter=spec', '--test-reporter-destination=stdout'],
        ...['--test-reporter=tap', `--test-reporter-destination=${output}`],
        ...files,
      ],
      // Its own process group: the watchdog below can end it with everything the tests started.
      { env, stdio: 'inherit', cwd: PROJECT_ROOT, detached: true },
    );
    // Ctrl-C and CI's stop reach the tests' own group as they would have without it.
    const group = (signal: NodeJS.Signals) => {
      try {
        process.kill(-(child.pid as number), signal);
      } catch {
        child.kill(signal);
      }
    };
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => group(signal));
    // A test file whose cleanup hangs keeps the runner alive past its test timeout: end the suite.
    const watchdog = setTimeout(() => {
      log(`the suite ran past ${SUITE_LIMIT_MINUTES} minutes: stopping it`);
      group('SIGKILL');
    }, SUITE_LIMIT_MINUTES * 60_000);
    const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
    clearTimeout(watchdog);
    // Whatever the tests started and left behind (a worker process, a daemon) goes with them.
    group('SIGKILL');
    const leaked = await secretScan({
      temporalAddress: env.TEMPORAL_ADDRESS,
      databaseUrl: env.DATABASE_URL,
      databasesBefore,
      secretsFile,
      output,
    });
    return code || leaked;
  } finally {
    await temporal.env.teardown().catch(() => undefined);
    await db?.stop().catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * 1 when a secret value the tests used is in a workflow history or a schedule on the dev server, a
 * table of the suite's databases or the test files' output; naming the secret and where, never the value.
 */
async function secretScan(opts: {
  temporalAddress: string;
  databaseUrl: string;
  /** the databases on the server before the tests: undefined when the server is the suite's own */
  databasesBefore?: string[];
  secretsFile: string;
  output: string;
}): Promise<number> {
  try {
    const databases = (await databaseUrls(opts.databaseUrl)).filter(
      (url) =>
        !opts.databasesBefore ||
        new URL(url).pathname === new URL(opts.databaseUrl).pathname ||
        !opts.databasesBefore.includes(url),
    );
    const { findings, summary } = await scanSuite({
      temporalAddress: opts.temporalAddress,
      databases,
      logs: [{ file: opts.output, label: "the test files' output (TAP)" }],
      secrets: registeredSecrets(opts.secretsFile),
    });
    log(`secret scan: ${summary}`);
    for (const f of findings) log(`secret scan: FOUND ${describeFinding(f)}`);
    return findings.length ? 1 : 0;
  } catch (err) {
    log(`secret scan could not run: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`[test] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
