import { join } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { parseShard, runSuite, suiteExitCode } from '../../../harness/suite.js';
import { action } from '../command.js';
import { integer, nonNegative, withOptions } from '../options.js';

interface Flags {
  out: string;
  jobs?: number;
  memoryBudgetMb?: number;
  shard?: string;
  history?: string;
  historyWindow: number;
  regressionFactor: number;
  timeout?: number;
  memoryMb?: number;
  backend?: string;
  progress?: 'bar' | 'lines' | 'none';
}

export function register(program: Command): Command {
  const cmd = program
    .command('suite')
    .summary('run a folder of comparison cases (CI regression suites, nightly runs)')
    .description(
      `Runs every case (*.yaml) of SUITE_DIR, each in its own process: a case that crashes, times out or runs out of memory is reported as errored and the others still run. Writes OUT/index.html, OUT/junit.xml, OUT/results.json and one report folder per case.

Exit code: 0 all cases as expected, 1 any fail or error, 2 usage error, 130 interrupted.`,
    )
    .argument('<suite-dir>', 'a folder of case files (or one case file)');
  withOptions(cmd, [
    new Option('--out <dir>', 'output folder').default(join('reports', 'suite')),
    new Option('--jobs <n>', 'cases run at once, each in its own process (default: the number of cores)').argParser(integer('jobs', 1)),
    new Option('--memory-budget-mb <n>', "memory the running cases may take together (default 80% of the machine's); a case that does not fit waits for others to end").argParser(integer('memory-budget-mb', 1)),
    new Option('--shard <i/n|auto>', "run a deterministic I-th of N shards (merge with 'parity merge-reports'); auto: from the CI's environment (PARITY_SHARD_INDEX/PARITY_SHARD_COUNT from 0, GitLab CI_NODE_INDEX/CI_NODE_TOTAL, Buildkite BUILDKITE_PARALLEL_JOB(_COUNT)); auto/N: a Kubernetes Indexed Job's JOB_COMPLETION_INDEX of N"),
    new Option('--history <file.jsonl>', "append each case's metrics; flag regressions against past runs"),
    new Option('--history-window <n>', 'runs to compare against').argParser(integer('history-window', 1)).default(5),
    new Option('--regression-factor <f>', 'max_abs worse than F x the median of the window is a regression').argParser(nonNegative('regression-factor')).default(2),
    new Option('--timeout <seconds>', "per-case timeout for every case (default: the case's, else 600)").argParser(nonNegative('timeout')),
    new Option('--memory-mb <n>', "heap limit of each case's process").argParser(integer('memory-mb', 1)),
    new Option('--backend <name>', 'backend of the reference interpreter').choices(['wasm', 'cpu', 'tensorflow']),
    new Option('--progress <how>', 'default: bar on a terminal, lines otherwise (CI)').choices(['bar', 'lines', 'none']),
  ]);
  return cmd.action(action(suite));
}

async function suite(dir: string, f: Flags): Promise<number> {
  const progress = f.progress ?? (process.stderr.isTTY && !process.env.CI ? 'bar' : 'lines');
  const controller = new AbortController();
  const onSig = () => {
    process.stderr.write('\nparity: interrupted; writing what has been compared so far\n');
    controller.abort();
  };
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  try {
    const result = await runSuite(dir, {
      out: f.out,
      ...(f.shard ? { shard: parseShard(f.shard) } : {}),
      ...(f.jobs !== undefined ? { jobs: f.jobs } : {}),
      ...(f.memoryBudgetMb !== undefined ? { memoryBudgetMb: f.memoryBudgetMb } : {}),
      ...(f.history ? { history: f.history } : {}),
      historyWindow: f.historyWindow,
      regressionFactor: f.regressionFactor,
      ...(f.timeout !== undefined ? { timeoutSec: f.timeout } : {}),
      ...(f.memoryMb !== undefined ? { memoryMb: f.memoryMb } : {}),
      ...(f.backend ? { backend: f.backend } : {}),
      progress,
      signal: controller.signal,
    });
    const c = result.counts;
    process.stdout.write(
      `${result.cases.length} cases: ${c.pass} pass, ${c.fail} fail, ${c.error} error${c.interrupted ? `, ${c.interrupted} interrupted` : ''}; report ${join(f.out, 'index.html')}\n`,
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
}
