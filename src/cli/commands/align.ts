import type { Command } from 'commander';
import { Option } from 'commander';
import { compare } from '../../index.js';
import { writeAtomic } from '../../report/index.js';
import { action } from '../command.js';
import type { CompareFlags } from '../options.js';
import { compareOptions, compareOptionsOf, withOptions } from '../options.js';

export function register(program: Command): Command {
  const cmd = program
    .command('align')
    .summary('write the reference/candidate alignment map (editable, reusable with --map)')
    .description(
      `Pairs reference nodes with candidate layers (names, then numeric alignment on the seeded inputs) and writes the pairs with their strategy and confidence, plus the unmatched names of both sides. Edit it by hand and pass it back with 'parity compare --map MAP.json'.`,
    )
    .argument('<original>', 'the TensorFlow model')
    .argument('<candidate>', 'its conversion');
  withOptions(cmd, [new Option('-o, --output <map.json>', 'where to write the map').makeOptionMandatory(), ...compareOptions()]);
  return cmd.action(
    action(async (original: string, candidate: string, f: CompareFlags & { output: string }) => {
      const result = await compare(original, candidate, { ...compareOptionsOf(f), ownError: false });
      const map = {
        version: 1,
        reference: result.reference.path,
        candidate: result.candidate.path,
        pairs: result.alignment,
        unmatched: result.unmatched,
      };
      writeAtomic(f.output, JSON.stringify(map, null, 2) + '\n');
      const by = new Map<string, number>();
      for (const p of result.alignment) by.set(p.strategy, (by.get(p.strategy) ?? 0) + 1);
      process.stdout.write(
        `wrote ${result.alignment.length} pairs (${[...by].map(([k, v]) => `${v} by ${k}`).join(', ')}) to ${f.output}; ` +
          `unmatched: ${result.unmatched.reference.length} reference, ${result.unmatched.candidate.length} candidate\n`,
      );
      return 0;
    }),
  );
}
