import { join } from 'node:path';
import { mergeSuiteResults, suiteExitCode, writeSuiteReports } from '../../../harness/suite.js';
import type { Command } from '../main.js';
import { parse } from '../common.js';

const usage = `usage: parity merge-reports SHARD_OUT... [--out DIR]

Merges the results of 'parity suite --shard I/N' runs (their output folders or results.json
files) into one index.html, junit.xml and results.json. Exit code as for 'parity suite'.`;

export const command: Command = {
  summary: 'merge sharded suite results into one report',
  usage,
  async run(argv) {
    const { values, positionals } = parse(argv, { out: { type: 'string' } }, { min: 1, max: 10_000, usage });
    const out = (values.out as string | undefined) ?? join('reports', 'merged');
    const merged = mergeSuiteResults(positionals, out);
    writeSuiteReports(merged, out);
    const c = merged.counts;
    process.stdout.write(`${merged.cases.length} cases: ${c.pass} pass, ${c.fail} fail, ${c.error} error; report ${join(out, 'index.html')}\n`);
    return suiteExitCode(merged);
  },
};
