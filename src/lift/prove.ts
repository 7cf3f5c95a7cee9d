import { join } from 'node:path';
import { compare } from '../index.js';
import type { Result } from '../compare/result.js';
import { writeReports } from '../report/index.js';

/**
 * The proof: the original against the lifted model.keras through tf-parity's own compare
 * (the CLI's `compare --fail-on all`: every paired layer must pass, not only the outputs), over
 * several seeded input draws, reported as OUT/report.html and OUT/report.json.
 */
export interface ProofOptions {
  /** The alignment map of what the lift claims (liftAlignment), in `parity align` format. */
  map?: string;
  shapes?: Record<string, number[]>;
  signature?: string;
  /** The original's tensors the lifted model stops at (--outputs). */
  outputs?: string[];
  /** Number of seeded input draws (seeds 0..n-1). */
  seeds: number;
  atol?: number;
  rtol?: number;
}

export async function prove(original: string, lifted: string, out: string, opts: ProofOptions): Promise<Result> {
  const result = await compare(original, lifted, {
    seed: 0,
    iterations: opts.seeds,
    failOn: 'all',
    ...(opts.map ? { map: opts.map } : {}),
    ...(opts.shapes ? { shapes: opts.shapes } : {}),
    ...(opts.signature ? { signature: opts.signature } : {}),
    ...(opts.outputs ? { outputs: opts.outputs } : {}),
    ...(opts.atol !== undefined ? { atol: opts.atol } : {}),
    ...(opts.rtol !== undefined ? { rtol: opts.rtol } : {}),
  });
  await writeReports(result, { json: join(out, 'report.json'), html: join(out, 'report.html') });
  return result;
}
