/**
 * Worker processes for a suite: one process per case (a crash, a hang or running out of memory
 * costs that case only), started ahead of the case that will use it ("warm"), so that process
 * start, module load, backend initialisation and a warm-up comparison (warmup.ts: what a
 * process's first comparison pays beyond the comparison) overlap the cases before it instead of
 * adding to every case's time.
 */
import type { ChildProcess } from 'node:child_process';
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rmSync } from 'node:fs';
import { caseKinds, writeWarmupModels } from './warmup.js';
import type { CaseMessage, WarmupMessage, WorkerMessage } from './worker.js';

/** How one case's process ended. */
export interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  timedOut: boolean;
  interrupted: boolean;
  /** Time spent inside the comparison (ms), when the worker got that far. */
  compareMs?: number;
}

export interface PoolOptions {
  backend?: string;
  /** Heap limit of each case's process (MB). */
  memoryMb?: number;
  /** Start the next worker before a case needs it (default true). */
  warm?: boolean;
  /** Workers kept started ahead when warm (default 1). */
  spares?: number;
  /** Warm workers run warm-up comparisons while they wait (default true). */
  warmup?: boolean;
  signal?: AbortSignal;
}

function workerPath(): { path: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith('.ts');
  return { path: join(here, '..', ts ? 'worker.ts' : 'worker.js'), execArgv: ts ? ['--import', 'tsx'] : [] };
}

/** One worker process, started before its case is known. */
class Worker {
  private readonly child: ChildProcess;
  private stderr = '';
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private done?: Extract<WorkerMessage, { type: 'done' }>;
  private given = false;

  /** `ahead`: what to load and warm up on while it waits, sent once known unless its case came first. */
  constructor(opts: PoolOptions, ahead?: Promise<WarmupMessage>) {
    const w = workerPath();
    const execArgv = [...w.execArgv, ...(opts.memoryMb ? [`--max-old-space-size=${opts.memoryMb}`] : [])];
    this.child = fork(w.path, opts.backend ? [opts.backend] : [], { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.child.stderr?.on('data', (c: Buffer) => {
      this.stderr = (this.stderr + c.toString()).slice(-8000);
    });
    this.child.on('message', (m: WorkerMessage) => {
      if (m.type === 'done') this.done = m;
    });
    this.child.on('error', (e) => {
      this.stderr += String(e);
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
    void ahead?.then((msg) => {
      if (!this.given && this.child.connected) this.child.send(msg, (e) => e && (this.stderr += String(e)));
    });
  }

  /** Gives the worker its case and waits for its process to end (or the timeout, or an abort). */
  async run(file: string, out: string, timeoutSec: number, signal?: AbortSignal): Promise<ChildOutcome> {
    let timedOut = false;
    let interrupted = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.child.kill('SIGKILL');
    }, timeoutSec * 1000);
    const onAbort = () => {
      interrupted = true;
      this.child.kill('SIGKILL');
    };
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const msg: CaseMessage = { type: 'case', file, out };
    this.given = true;
    // A worker that died while it warmed up has no channel: its exit says why.
    if (this.child.connected) this.child.send(msg, (e) => e && (this.stderr += String(e)));
    const { code, signal: sig } = await this.exited;
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    const compareMs = this.done ? this.done.comparedMs - this.done.startedMs : undefined;
    return { code, signal: sig, stderr: this.stderr, timedOut, interrupted, ...(compareMs !== undefined ? { compareMs } : {}) };
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

/** The models of a case, as far as the pool needs them (to tell a worker what its case will load). */
export type CaseModels = { original: string; candidate: string };

/**
 * Hands out worker processes, keeping `spares` started ahead when warm. Cases start in the order
 * run() is called and take the spares in the order they were started, so the pool knows which
 * case each spare will get and tells it the kinds of model to load and warm up on (a guess that
 * is only ever slower when wrong, e.g. when a case is left out).
 */
export class WorkerPool {
  private readonly spares: Worker[] = [];
  private closed = false;
  /** The warm-up models' folder, written once for all the pool's workers. */
  private readonly models?: Promise<string | undefined>;

  constructor(private readonly opts: PoolOptions) {
    // Written in this process while the first worker loads; without them workers still run, cold.
    if (opts.warm !== false && opts.warmup !== false) this.models = writeWarmupModels().catch(() => undefined);
  }

  /** Runs one case in a process of its own; `next`: the cases to start after it, in order (the first `spares` at least). */
  async run(file: string, out: string, timeoutSec: number, next: readonly CaseModels[]): Promise<ChildOutcome> {
    const worker = this.spares.shift() ?? new Worker(this.opts);
    // The next cases' processes start now, while this one runs.
    const want = this.opts.warm === false || this.closed ? 0 : Math.min(next.length, Math.max(1, this.opts.spares ?? 1));
    while (this.spares.length < want) this.spares.push(new Worker(this.opts, this.ahead(next[this.spares.length]!)));
    return worker.run(file, out, timeoutSec, this.opts.signal);
  }

  /** What a worker started for `models` loads and compares while it waits. */
  private async ahead(models: CaseModels): Promise<WarmupMessage> {
    const kinds = caseKinds(models);
    const dir = await this.models;
    return { type: 'warmup', ...(dir ? { dir } : {}), ...(kinds ? { kinds } : {}) };
  }

  /** Ends the spares and removes the warm-up models; no more workers are started. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.spares.splice(0)) w.kill();
    const dir = await this.models;
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
