import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashCache, hashPath } from '../../src/api/hash.js';
import { modelFiles } from '../../src/formats/files.js';

const dir = mkdtempSync(join(tmpdir(), 'parity-files-'));
function file(rel: string, text = rel): string {
  const p = join(dir, rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

describe('the files a model is read from (what its sha256 covers)', () => {
  it('a single file is itself; a missing path is nothing', () => {
    const pb = file('one/model.pb');
    expect(modelFiles(pb)).toEqual([pb]);
    expect(modelFiles(join(dir, 'one/nothing.pb'))).toEqual([]);
  });

  it("a model.json and the shards its weightsManifest names inside its folder, each once, in manifest order", () => {
    const a = file('tfjs/group1-shard1of2.bin');
    const b = file('tfjs/group1-shard2of2.bin');
    const c = file('tfjs/w/other.bin');
    file('outside.bin');
    const json = file(
      'tfjs/model.json',
      JSON.stringify({
        format: 'graph-model',
        weightsManifest: [
          { paths: ['group1-shard2of2.bin', 'group1-shard1of2.bin'], weights: [] },
          // A repeat, a path leaving the folder, an absolute path, a missing shard: not files of this model.
          { paths: ['group1-shard1of2.bin', '../outside.bin', join(dir, 'outside.bin'), 'missing.bin', 'w/other.bin'], weights: [] },
        ],
      }),
    );
    expect(modelFiles(json)).toEqual([json, b, a, c]);
    // Unreadable JSON: the file alone (its reader reports the error).
    const bad = file('tfjs-bad/model.json', '{ not json');
    expect(modelFiles(bad)).toEqual([bad]);
  });

  it('a TF1 checkpoint by prefix, .meta, .index or a .data shard: .meta, .index and every shard', () => {
    const meta = file('ckpt/model.ckpt-7.meta');
    const index = file('ckpt/model.ckpt-7.index');
    const d1 = file('ckpt/model.ckpt-7.data-00001-of-00002');
    const d0 = file('ckpt/model.ckpt-7.data-00000-of-00002');
    // Another checkpoint in the same folder is not part of this one.
    file('ckpt/model.ckpt-8.index');
    file('ckpt/model.ckpt-8.data-00000-of-00001');
    const want = [meta, index, d0, d1];
    const prefix = join(dir, 'ckpt/model.ckpt-7');
    for (const p of [prefix, meta, index, d1]) expect(modelFiles(p), p).toEqual(want);
    // The folder: the state file and the checkpoint it names, not the others beside it.
    const state = file('ckpt/checkpoint', 'model_checkpoint_path: "model.ckpt-7"\nall_model_checkpoint_paths: "model.ckpt-7"\n');
    expect(modelFiles(join(dir, 'ckpt'))).toEqual([state, ...want]);
  });

  it('a folder: all its files by relative path; saved_model.pb named by itself: its folder', () => {
    const sm = file('sm/saved_model.pb');
    const v1 = file('sm/variables/variables.index');
    const v0 = file('sm/variables/variables.data-00000-of-00001');
    const all = [sm, v0, v1];
    expect(modelFiles(join(dir, 'sm'))).toEqual(all);
    expect(modelFiles(sm)).toEqual(all);
  });

  it("extra files (a runner's, such as ONNX external data) follow, each once", () => {
    const onnx = file('onnx/model.onnx');
    const ext = file('onnx/weights/w.bin');
    expect(modelFiles(onnx, [ext, ext, join(dir, 'onnx/gone.bin')])).toEqual([onnx, ext]);
  });

  it("the digest changes when only a model.json's weights change", async () => {
    const shard = file('tfjs2/w.bin', 'weights v1');
    const text = JSON.stringify({ weightsManifest: [{ paths: ['w.bin'], weights: [] }] });
    const json = file('tfjs2/model.json', text);
    const h1 = await hashPath(json);
    expect(h1).toEqual({ sha256: createHash('sha256').update(text).update('weights v1').digest('hex'), bytes: Buffer.byteLength(text) + 'weights v1'.length });
    writeFileSync(shard, 'weights v2');
    expect((await hashPath(json)).sha256).not.toBe(h1.sha256);
  });
});

describe('digests of model files in one process', () => {
  it('are read once for files that have not changed, and again when one has', async () => {
    const shard = file('cached/w.bin', 'aaaa');
    const json = file('cached/model.json', JSON.stringify({ weightsManifest: [{ paths: ['w.bin'], weights: [] }] }));
    // Fresh files (within 2 s of now) are never taken from the cache: a rewrite within the same tick must be seen.
    const m0 = hashCache.misses;
    const fresh = await hashPath(json);
    expect((await hashPath(json)).sha256).toBe(fresh.sha256);
    expect(hashCache.misses - m0).toBe(2);
    const past = new Date(Date.now() - 60_000);
    for (const f of [shard, json]) utimesSync(f, past, past);
    // Setting the times changed the change time, which is now: wait until it is 2 s old.
    await new Promise((r) => setTimeout(r, 2100));
    const h0 = hashCache.hits;
    const first = await hashPath(json);
    expect(first.sha256).toBe(fresh.sha256);
    expect(await hashPath(json)).toEqual(first);
    expect(hashCache.hits - h0).toBe(1);
    // The same size and the same modification time, other bytes: the change time gives it away.
    writeFileSync(shard, 'bbbb');
    utimesSync(shard, past, past);
    const changed = await hashPath(json);
    expect(changed.sha256).not.toBe(first.sha256);
    expect(changed.sha256).toBe(createHash('sha256').update(readFileSync(json)).update('bbbb').digest('hex'));
  }, 10_000);
});
