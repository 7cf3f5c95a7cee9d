import { readFileSync } from 'node:fs';
import { FormatError, InputError, errorMessage } from '../../core/errors.js';
import type { AlignedPair, Alignment, Strategy, Transform } from './types.js';

/** The alignment map file: a JSON Alignment a user writes or edits (--map), read and checked. */

/** Reads a (possibly hand-edited) alignment map. */
export function readAlignmentFile(path: string): Alignment {
  let obj: unknown;
  try {
    obj = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(`alignment map ${path} does not exist`, { file: path });
    throw new FormatError(`${path}: not valid JSON (${errorMessage(e)})`, { file: path });
  }
  return validateAlignment(obj, path);
}

export function validateAlignment(obj: unknown, file: string): Alignment {
  const fail = (msg: string): never => {
    throw new FormatError(`${file}: ${msg}`, { file });
  };
  if (!obj || typeof obj !== 'object') fail('expected an object with "pairs"');
  const o = obj as Record<string, unknown>;
  if (!Array.isArray(o.pairs)) fail('"pairs" must be a list of {reference, candidate}');
  const pairs: AlignedPair[] = (o.pairs as unknown[]).map((p, i) => {
    if (!p || typeof p !== 'object') fail(`pairs[${i}] must be an object`);
    const q = p as Record<string, unknown>;
    if (typeof q.reference !== 'string' || !q.reference) fail(`pairs[${i}].reference must be a non-empty string`);
    if (typeof q.candidate !== 'string' || !q.candidate) fail(`pairs[${i}].candidate must be a non-empty string`);
    let transform: Transform | undefined;
    if (q.transform !== undefined) {
      const t = q.transform as Record<string, unknown>;
      if (!t || typeof t !== 'object') fail(`pairs[${i}].transform must be an object`);
      if (t.perm !== undefined) {
        const perm = t.perm as unknown[];
        if (!Array.isArray(perm) || !perm.every((x) => Number.isInteger(x)) || [...perm].sort().some((x, k) => x !== k)) {
          fail(`pairs[${i}].transform.perm must be a permutation like [0,2,3,1]`);
        }
      }
      transform = { ...(t.perm ? { perm: t.perm as number[] } : {}), ...(t.reshape ? { reshape: true } : {}) };
    }
    return {
      reference: q.reference as string,
      candidate: q.candidate as string,
      strategy: 'map' as Strategy,
      confidence: 1,
      ...(transform ? { transform } : {}),
    };
  });
  const um = (o.unmatched ?? { reference: [], candidate: [] }) as { reference?: unknown; candidate?: unknown };
  return {
    version: 1,
    pairs,
    unmatched: {
      reference: Array.isArray(um.reference) ? (um.reference as string[]) : [],
      candidate: Array.isArray(um.candidate) ? (um.candidate as string[]) : [],
    },
  };
}

