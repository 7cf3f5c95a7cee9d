import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { modelFiles, settled, statKey } from '../formats/files.js';

/** Files up to this size are read and hashed in one go; larger ones are streamed. */
const HASH_AT_ONCE = 16 * 1024 * 1024;

/**
 * Digests already computed in this process, by the files' paths and stat data (device, inode,
 * size, modification and change times in ns): a loop of comparisons of the same models (the
 * API, the vitest matcher, a benchmark) reads and hashes each model once. A digest is kept
 * only once its files are 2 s old, so a file rewritten within the same clock tick as it was
 * hashed is not mistaken for the old one (git's "racy" rule); a changed file changes its
 * change time, which no tool can set back.
 */
const digests = new Map<string, { sha256: string; bytes: number }>();
/** Reads of files to hash (misses) and digests found (hits): for tests. */
export const hashCache = { hits: 0, misses: 0 };

/**
 * sha256 and size of the files a model is read from (formats/files.ts: a folder's files by
 * relative path, a model.json and its weight shards, a checkpoint's .meta, .index and .data;
 * `extra`: what its runner read besides, e.g. an ONNX model's external data), one digest
 * over them in that order. No files: an empty digest.
 */
export async function hashPath(path: string, extra: string[] = []): Promise<{ sha256: string; bytes: number }> {
  const files = modelFiles(path, extra);
  if (!files.length) return { sha256: '', bytes: 0 };
  const stats = files.map((f) => statSync(f, { bigint: true }));
  const key = files.map((f, i) => statKey(f, stats[i]!)).join('\n');
  const known = digests.get(key);
  if (known) {
    hashCache.hits++;
    return { ...known };
  }
  hashCache.misses++;
  const h = createHash('sha256');
  let bytes = 0;
  for (const f of files) {
    if (statSync(f).size <= HASH_AT_ONCE) {
      const b = readFileSync(f);
      bytes += b.length;
      h.update(b);
      continue;
    }
    await new Promise<void>((res, rej) => {
      createReadStream(f)
        .on('data', (c) => {
          bytes += c.length;
          h.update(c);
        })
        .on('end', () => res())
        .on('error', rej);
    });
  }
  const out = { sha256: h.digest('hex'), bytes };
  if (settled(stats)) {
    if (digests.size >= 256) digests.clear();
    digests.set(key, out);
  }
  return { ...out };
}

