import { join } from 'node:path';
import { InputError } from '../../core/errors.js';
import { parseShard, runSuite, suiteExitCode } from '../../../harness/suite.js';
import type { Command } from '../main.js';
import { intOption, numberOption, parse } from '../common.js';

const usage = `usage: parity suite SUITE_DIR [options]

Runs every case (*.yaml) of SUITE_DIR, each in its own process: a case that crashes, times
out or runs out of memory is reported as errored and the others still run. Writes
OUT/index.html, OUT/junit.xml, OUT/results.json and one report folder per case.
Exit code: 0 all cases as expected, 1 any fail or error, 2 usage error, 130 interrupted.

  --out DIR                  output folder (default reports/suite)
  --jobs N                   cases run at once, each in its own process (default: the number of cores)
  --memory-budget-mb N       memory the running cases may take together (default 80% of the machine's);
                             a case that does not fit waits for others to end
  --shard I/N                run a deterministic I-th of N shards (merge with 'parity merge-reports')
  --shard auto               the shard from the CI's environment: PARITY_SHARD_INDEX/PARITY_SHARD_COUNT
                             (0-based; GitHub Actions: strategy.job-index/job-total), GitLab CI_NODE_INDEX/
                             CI_NODE_TOTAL, Buildkite BUILDKITE_PARALLEL_JOB(_COUNT), Kubernetes
                             JOB_COMPLETION_INDEX with --shard auto/N
  --history FILE.jsonl       append each case's metrics; flag regressions against past runs
  --history-window N         runs to compare against (default 5)
  --regression-factor F      max_abs worse than F x the median of the window is a regression (default 2)
  --timeout SECONDS          per-case timeout for every case (default: the case's, else 600)
  --memory-mb N              heap limit of each case's process
  --backend NAME             wasm | cpu | tensorflow
  --progress bar|lines|none  default: bar on a terminal, lines otherwise (CI)`;

function positiveInt(v: unknown, name: string): number {
  const n = intOption(v, name, 1);
  if (n < 1) throw new InputError(`--${name} must be at least 1, got ${n}`);
  return n;
}

export const command: Command = {
  summary: 'run a folder of comparison cases (CI regression suites, nightly runs)',
  usage,
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      {
        out: { type: 'string' },
        jobs: { type: 'string' },
        'memory-budget-mb': { type: 'string' },
        shard: { type: 'string' },
        history: { type: 'string' },
        'history-window': { type: 'string' },
        'regression-factor': { type: 'string' },
        timeout: { type: 'string' },
        'memory-mb': { type: 'string' },
        backend: { type: 'string' },
        progress: { type: 'string' },
      },
      { min: 1, max: 1, usage },
    );
    const progress = (values.progress as string | undefined) ?? (process.stderr.isTTY && !process.env.CI ? 'bar' : 'lines');
    if (!['bar', 'lines', 'none'].includes(progress)) throw new InputError(`--progress expects bar, lines or none`);
    const controller = new AbortController();
    const onSig = () => {
      process.stderr.write('\nparity: interrupted; writing what has been compared so far\n');
      controller.abort();
    };
    process.once('SIGINT', onSig);
    process.once('SIGTERM', onSig);
    try {
      const out = (values.out as string | undefined) ?? join('reports', 'suite');
      const result = await runSuite(positionals[0]!, {
        out,
        ...(values.shard ? { shard: parseShard(values.shard as string) } : {}),
        ...(values.jobs !== undefined ? { jobs: positiveInt(values.jobs, 'jobs') } : {}),
        ...(values['memory-budget-mb'] !== undefined ? { memoryBudgetMb: positiveInt(values['memory-budget-mb'], 'memory-budget-mb') } : {}),
        ...(values.history ? { history: values.history as string } : {}),
        historyWindow: intOption(values['history-window'], 'history-window', 5),
        regressionFactor: numberOption(values['regression-factor'], 'regression-factor', 2),
        ...(values.timeout ? { timeoutSec: numberOption(values.timeout, 'timeout', 600) } : {}),
        ...(values['memory-mb'] ? { memoryMb: intOption(values['memory-mb'], 'memory-mb', 0) } : {}),
        ...(values.backend ? { backend: values.backend as string } : {}),
        progress: progress as 'bar' | 'lines' | 'none',
        signal: controller.signal,
      });
      const c = result.counts;
      process.stdout.write(
        `${result.cases.length} cases: ${c.pass} pass, ${c.fail} fail, ${c.error} error${c.interrupted ? `, ${c.interrupted} interrupted` : ''}; report ${join(out, 'index.html')}\n`,
      );
      for (const t of result.trends ?? []) {
        const changed = t.changed?.length ? `${t.changed.join(' and ')} changed since the last run` : '';
        if (t.flag === 'regression' || t.flag === 'improvement') process.stdout.write(`  ${t.flag}: ${t.case}: ${t.reason}${changed ? ` (${changed})` : ''}\n`);
        else if (changed) process.stdout.write(`  ${t.flag}: ${t.case}: ${changed}\n`);
      }
      return suiteExitCode(result);
    } finally {
      process.off('SIGINT', onSig);
      process.off('SIGTERM', onSig);
    }
  },
};
