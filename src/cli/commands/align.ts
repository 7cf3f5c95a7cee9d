import type { Command } from '../main.js';
import { COMPARE_OPTIONS, runCompare } from './compare.js';
import { parse } from '../common.js';
import { writeAtomic } from '../../report/index.js';
import { InputError } from '../../core/errors.js';

const usage = `usage: parity align ORIGINAL CANDIDATE -o MAP.json [compare options]

Pairs reference nodes with candidate layers (names, then numeric alignment on the seeded inputs)
and writes the pairs with their strategy and confidence, plus the unmatched names of both sides.
Edit it by hand and pass it back with 'parity compare --map MAP.json'.`;

export const command: Command = {
  summary: 'write the reference/candidate alignment map (editable, reusable with --map)',
  usage,
  async run(argv) {
    const { values, positionals } = parse(argv, { ...COMPARE_OPTIONS, output: { type: 'string', short: 'o' } }, { min: 2, max: 2, usage });
    if (!values.output) throw new InputError(`-o MAP.json is required\n${usage}`, { multiline: true });
    const result = await runCompare(positionals[0]!, positionals[1]!, { ...values, 'no-own-error': true });
    const map = {
      version: 1,
      reference: result.reference.path,
      candidate: result.candidate.path,
      pairs: result.alignment,
      unmatched: result.unmatched,
    };
    writeAtomic(values.output as string, JSON.stringify(map, null, 2) + '\n');
    const by = new Map<string, number>();
    for (const p of result.alignment) by.set(p.strategy, (by.get(p.strategy) ?? 0) + 1);
    process.stdout.write(
      `wrote ${result.alignment.length} pairs (${[...by].map(([k, v]) => `${v} by ${k}`).join(', ')}) to ${values.output}; ` +
        `unmatched: ${result.unmatched.reference.length} reference, ${result.unmatched.candidate.length} candidate\n`,
    );
    return 0;
  },
};
