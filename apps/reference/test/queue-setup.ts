import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Helpers of the queue tests: a real redis-server on the loopback address, and `exitless`
// processes (workers, coordinators) whose output the tests wait on.

/** The repository root, where `exitless` runs from. */
export const ROOT: string = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

/** A port nobody listens on now (the kernel's choice for port 0). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A process the test started: its output so far, and ways to wait on it. */
export interface Proc {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when `pattern` appears on stderr (or stdout); rejects after `ms`, with the output so far. */
  waitFor(pattern: RegExp, ms?: number): Promise<void>;
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  readonly exited: Promise<number | string>;
}

/** Starts `command args` and records its output. */
export function start(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(command, [...args], { cwd: ROOT, env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.pattern.test(err) || w.pattern.test(out)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    check();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    check();
  });
  const exited = new Promise<number | string>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (pattern, ms = 30_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `${command} ${args.join(' ')}: no ${pattern} within ${ms} ms; stderr:\n${err}\nstdout:\n${out}`,
              ),
            ),
          ms,
        );
        waiters.push({
          pattern,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        check();
        void exited.then((code) => {
          if (waiters.some((w) => w.pattern === pattern)) {
            clearTimeout(timer);
            reject(new Error(`${command} ended (${code}) before ${pattern}; stderr:\n${err}`));
          }
        });
      }),
  };
}

/** `exitless ARGS` from the TypeScript sources, as `pnpm exitless` runs it. */
export function exitless(args: readonly string[]): Proc {
  return start(process.execPath, ['--conditions=source', '--import', 'tsx', CLI, ...args]);
}

/** A redis-server of the test's own on 127.0.0.1, with no persistence. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Stops it (its data is gone: no persistence). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

/**
 * Starts Debian's `redis-server` on a free loopback port with a temporary directory and no
 * persistence. If it cannot start (not installed, or it exits), this throws — loudly, with
 * what to do — so that the queue tests fail rather than pass without Redis.
 */
export async function startRedis(): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'exitless-redis-'));
  const port = await freePort();
  let proc: Proc | null = null;
  const launch = async () => {
    const p = start('redis-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ]);
    p.exited.catch(() => {});
    try {
      await Promise.race([
        p.waitFor(/Ready to accept connections/, 15_000),
        p.exited.then((code) => {
          throw new Error(`redis-server exited (${code})`);
        }),
      ]);
    } catch (error) {
      throw new Error(
        `THE QUEUE TESTS NEED REDIS: redis-server could not start on 127.0.0.1:${port} (${error instanceof Error ? error.message : String(error)}). Install it (apt-get install -y redis-server; .ci/run does so when it is missing).`,
      );
    }
    proc = p;
  };
  const stop = async () => {
    const p = proc;
    proc = null;
    if (p === null) return;
    p.child.kill('SIGKILL');
    await p.exited.catch(() => {});
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    restart: launch,
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Stops a process the test started (SIGTERM, then SIGKILL after 5 s), and waits for it to end. */
export async function stopProc(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
  await p.exited.catch(() => {});
  clearTimeout(timer);
}
