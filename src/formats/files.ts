import type { BigIntStats } from 'node:fs';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, normalize } from 'node:path';
import { resolveCheckpointPrefix } from './checkpoint/bundle.js';

/**
 * The files a model at `path` is read from, in a fixed order: what the Result's sha256 and
 * bytes cover, so that a change of weights alone changes the digest too.
 *
 * - a folder (SavedModel, tfjs model): every file in it, by relative path; a `saved_model.pb`
 *   named by itself: its folder; a folder of TF1 checkpoints: its `checkpoint` state file and the
 *   files of the checkpoint that names (or of its only one);
 * - a model.json (tfjs graph or layers model): the JSON, then the weight shards its
 *   weightsManifest names (those that exist, each once, in manifest order);
 * - a TF1 checkpoint named by prefix, .meta, .index or a .data shard: its .meta, .index and
 *   every .data shard (by name);
 * - any other file: itself. `extra` (Runner.files(): an ONNX model's external data) follows.
 *
 * A path that does not exist and names no checkpoint gives no files.
 */
export function modelFiles(path: string, extra: string[] = []): string[] {
  const out: string[] = [];
  const add = (f: string) => {
    if (!out.includes(f)) out.push(f);
  };
  const walk = (p: string) => {
    if (statSync(p).isDirectory()) for (const e of readdirSync(p).sort()) walk(join(p, e));
    else add(p);
  };
  const isCheckpointName = /\.(index|meta)$|\.data-\d{5}-of-\d{5}$/.test(path);
  if (!existsSync(path) || isCheckpointName) {
    if (isCheckpointName || existsSync(path + '.index') || existsSync(path + '.meta')) for (const f of checkpointFiles(path)) add(f);
  } else if (statSync(path).isDirectory()) {
    // A training folder keeps several checkpoints: only the one it resolves to (and the state
    // file that names it) is this model. A SavedModel or a tfjs model is its whole folder.
    const isCheckpointDir = !existsSync(join(path, 'saved_model.pb')) && !existsSync(join(path, 'saved_model.pbtxt')) && !existsSync(join(path, 'model.json')) && (existsSync(join(path, 'checkpoint')) || readdirSync(path).some((f) => f.endsWith('.index')));
    if (isCheckpointDir) {
      if (existsSync(join(path, 'checkpoint'))) add(join(path, 'checkpoint'));
      for (const f of checkpointFiles(path)) add(f);
    } else walk(path);
  } else if (/^saved_model\.pb(txt)?$/.test(basename(path))) walk(dirname(path));
  else {
    add(path);
    if (extname(path).toLowerCase() === '.json') for (const f of weightShards(path)) add(f);
  }
  for (const f of extra) if (existsSync(f)) add(f);
  return out;
}

/** A checkpoint's .meta, .index and .data shards that exist. */
function checkpointFiles(path: string): string[] {
  let prefix: string;
  try {
    prefix = resolveCheckpointPrefix(path);
  } catch {
    // Not one checkpoint (several in a folder and no state file naming one): the reader says so.
    return existsSync(path) && statSync(path).isFile() ? [path] : [];
  }
  const dir = dirname(prefix);
  const base = basename(prefix);
  const shards = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(base + '.data-')).sort().map((f) => join(dir, f)) : [];
  const files = [prefix + '.meta', prefix + '.index'].filter((f) => existsSync(f)).concat(shards);
  // A V1 checkpoint is one file at the prefix itself.
  if (existsSync(prefix) && statSync(prefix).isFile()) files.unshift(prefix);
  return files;
}

/**
 * The shard paths a model.json's manifest names, by the JSON's stat data (device, inode,
 * size, mtime and ctime in ns; only for files at least 2 s old, as the digests in
 * api/hash.ts): a comparison lists them for the digest of both models, and parsing
 * blazeface's model.json again took about 1 ms each time.
 */
const manifestPaths = new Map<string, string[]>();

/** Bytes of the files a model at `path` is read from (modelFiles); 0 for a path that names none. */
export function modelFileBytes(path: string): number {
  let n = 0;
  for (const f of modelFiles(path)) {
    try {
      n += statSync(f).size;
    } catch {
      /* vanished between listing and stat: not counted */
    }
  }
  return n;
}

/** A file's identity and version from its stat data: what caches of its contents are keyed by. */
export function statKey(path: string, st: BigIntStats): string {
  return `${path}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/**
 * Whether files last changed at least 2 s ago: only then may what was read of them be kept by
 * statKey (a file rewritten within the clock's resolution could keep its stat data).
 */
export function settled(stats: BigIntStats[]): boolean {
  let newest = 0n;
  for (const st of stats) for (const t of [st.mtimeNs, st.ctimeNs]) if (t > newest) newest = t;
  return BigInt(Date.now()) * 1_000_000n - newest > 2_000_000_000n;
}

/** The weight files a model.json names, inside its folder (what the tfjs readers load). */
function weightShards(json: string): string[] {
  const st = statSync(json, { bigint: true });
  const key = statKey(json, st);
  let paths = manifestPaths.get(key);
  if (!paths) {
    paths = manifestOf(json);
    if (settled([st])) {
      if (manifestPaths.size >= 256) manifestPaths.clear();
      manifestPaths.set(key, paths);
    }
  }
  const out: string[] = [];
  for (const p of paths) {
    const f = join(dirname(json), p);
    if (existsSync(f) && statSync(f).isFile()) out.push(f);
  }
  return out;
}

/** The relative shard paths of a model.json's weightsManifest (none outside its folder). */
function manifestOf(json: string): string[] {
  let obj: unknown;
  try {
    obj = JSON.parse(readFileSync(json, 'utf8'));
  } catch {
    return [];
  }
  const manifest = (obj as { weightsManifest?: unknown }).weightsManifest;
  if (!Array.isArray(manifest)) return [];
  const out: string[] = [];
  for (const group of manifest) {
    const paths = (group as { paths?: unknown } | null)?.paths;
    if (!Array.isArray(paths)) continue;
    for (const p of paths) {
      if (typeof p !== 'string' || isAbsolute(p) || normalize(p).split(/[\\/]/).includes('..')) continue;
      out.push(p);
    }
  }
  return out;
}
