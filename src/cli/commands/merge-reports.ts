import { join } from 'node:path';
import type { Command } from 'commander';
import { mergeSuiteResults, suiteExitCode, writeSuiteReports } from '../../../harness/suite.js';
import { action } from '../command.js';

export function register(program: Command): Command {
  return program
    .command('merge-reports')
    .summary('merge sharded suite results into one report')
    .description(
      `Merges the results of 'parity suite --shard I/N' runs (their output folders or results.json files) into one index.html, junit.xml and results.json. Exit code as for 'parity suite'.`,
    )
    .argument('<shard-out...>', "output folders (or results.json files) of 'parity suite --shard' runs")
    .option('--out <dir>', 'output folder', join('reports', 'merged'))
    .action(
      action(async (shards: string[], f: { out: string }) => {
        const merged = mergeSuiteResults(shards, f.out);
        writeSuiteReports(merged, f.out);
        const c = merged.counts;
        process.stdout.write(`${merged.cases.length} cases: ${c.pass} pass, ${c.fail} fail, ${c.error} error; report ${join(f.out, 'index.html')}\n`);
        return suiteExitCode(merged);
      }),
    );
}
