/**
 * Runs one case in its own process, so a crash, a hang or running out of memory costs that
 * case only. The suite starts it before it has a case for it ("warm"): it loads tf-parity and
 * initialises the backend; told (a `warmup` message) which kinds of model its case will use, it
 * loads their runners and compares warmup.ts's models of those kinds until its case comes; it
 * says `ready` over IPC, then receives one case, runs it, writes
 * OUT_DIR/result.json (+ report.html, junit.xml), reports its timings and exits: 0 done,
 * 2 the case's own input error (one line on stderr), 3 anything else.
 *
 * Usage (by the suite runner, with an IPC channel): worker [BACKEND]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BackendName } from '../src/backend/index.js';
import type { ModelKind } from '../src/runners/index.js';

/** What the suite sends a ready worker. */
export interface CaseMessage {
  type: 'case';
  file: string;
  out: string;
}

/**
 * What the suite sends a worker started ahead of its case: the kinds of model that case will
 * likely use (whose runners to load; all when not given) and the folder of warmup.ts's models
 * (none: no warm-up comparisons).
 */
export interface WarmupMessage {
  type: 'warmup';
  dir?: string;
  kinds?: ModelKind[];
}

/** What a worker reports, in milliseconds since its process started (warmups: comparisons run while waiting). */
export type WorkerMessage = { type: 'ready'; loadedMs: number; warmups: number } | { type: 'done'; startedMs: number; comparedMs: number; writtenMs: number };

/** Sends a message; resolves once it is written, so that exiting after it does not lose it. */
const send = (m: WorkerMessage): Promise<void> => new Promise((resolve) => (process.send ? process.send(m, undefined, {}, () => resolve()) : resolve()));

async function load(backend: string | undefined) {
  // Everything a case needs that does not depend on the case: modules, the backend.
  const [{ compare }, { initBackend, backendInfo }, reports, cases, { preloadRunners }] = await Promise.all([
    import('../src/api/compare.js'),
    import('../src/backend/index.js'),
    import('../src/report/index.js'),
    import('./case.js'),
    import('../src/runners/index.js'),
  ]);
  await initBackend((backend as BackendName | undefined) ?? 'auto');
  return { compare, reports, cases, backendInfo, preloadRunners };
}

async function runCase(msg: CaseMessage, backend: string | undefined, loaded: Awaited<ReturnType<typeof load>>): Promise<number> {
  const { compare, reports, cases } = loaded;
  const startedMs = performance.now();
  mkdirSync(msg.out, { recursive: true });
  const spec = cases.readCase(msg.file);
  if (spec.simulate === 'crash') throw new Error('simulated crash');
  if (spec.simulate === 'hang') await new Promise(() => setInterval(() => {}, 1000));
  if (spec.simulate === 'oom') {
    // JavaScript arrays (the heap the limit bounds), not typed arrays, whose memory lies outside it.
    const hog: number[][] = [];
    for (;;) hog.push(new Array<number>(1 << 20).fill(0.5));
  }
  const options = cases.caseOptions(spec);
  if (backend) options.backend = backend as BackendName;
  const result = await compare(spec.original, spec.candidate, options);
  const comparedMs = performance.now();
  await reports.writeReports(result, { html: join(msg.out, 'report.html'), junit: join(msg.out, 'junit.xml') });
  reports.writeAtomic(join(msg.out, 'result.json'), reports.jsonReport(result));
  await send({ type: 'done', startedMs, comparedMs, writtenMs: performance.now() });
  return 0;
}

async function main(): Promise<number> {
  const backend = process.argv[2];
  if (!process.send) {
    process.stderr.write('usage: worker [BACKEND] (started by parity suite, with an IPC channel)\n');
    return 2;
  }
  // The case (or the warm-up folder) may arrive while the modules load: keep it.
  let caseMsg: CaseMessage | undefined;
  let warmup: WarmupMessage | undefined;
  let wake = () => {};
  const arrived = new Promise<CaseMessage>((resolve) =>
    process.on('message', (m: CaseMessage | WarmupMessage) => {
      if (m.type === 'case') resolve((caseMsg = m));
      else if (m.type === 'warmup') warmup = m;
      wake();
    }),
  );
  const loaded = await load(backend);
  // A warm worker waits for its case, or for what to load and compare meanwhile.
  if (!caseMsg && !warmup) await new Promise<void>((resolve) => (wake = resolve));
  let warmups = 0;
  if (warmup && !caseMsg) {
    // What the case's runners load on first use, then comparisons of the same kinds.
    await loaded.preloadRunners(warmup.kinds);
    if (warmup.dir && !caseMsg) {
      const { warmUp } = await import('./warmup.js');
      warmups = await warmUp(warmup.dir, loaded, () => caseMsg !== undefined, { ...(backend ? { backend: backend as BackendName } : {}), ...(warmup.kinds ? { kinds: warmup.kinds } : {}) });
    }
  }
  await send({ type: 'ready', loadedMs: performance.now(), warmups });
  return runCase(await arrived, backend, loaded);
}

const { ParityError } = await import('../src/core/errors.js');
main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    // A ParityError is the case's own problem (bad path, bad model): one line, exit 2.
    if (e instanceof ParityError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(3);
  },
);
