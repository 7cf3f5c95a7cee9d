/**
 * Big models: time and peak RSS of `parity run` and `parity compare` on a frozen graph of 134 M
 * parameters (8 dense layers of 4096x4096: a 537 MB .pb), printed per weight byte and against a
 * bare `node` process that only reads the same file, each in a fresh process, side by side.
 * The models are made here, by this code (into a temp folder). Run:
 *   npm run build && node dist/bench/big.js [--base OTHER/bin/parity.js]
 * With --base, another build (e.g. main's, built in a copy of it) runs each case beside this one,
 * in turn, so that before/after figures come from the same minutes of the same machine.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { A } from '../src/graph/attrs.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { encodeGraphDef } from '../src/formats/graphdef-writer.js';

const BIN = join(fileURLToPath(import.meta.url), '..', '..', '..', 'bin', 'parity.js');
const baseAt = process.argv.indexOf('--base');
const BASE = baseAt > 0 ? process.argv[baseAt + 1] : undefined;
const builds: [string, string][] = BASE ? [['base', BASE], ['this', BIN]] : [['this', BIN]];

/** A chain of dense layers (MatMul + BiasAdd + Relu), weights from a seeded LCG scaled so activations stay O(1). */
export function denseChain(layers: number, width: number, scale = 1): Uint8Array {
  const g = new GraphBuilder();
  let x = g.placeholder('x', 'float32', [1, width]);
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const k = Math.sqrt(3 / width);
  for (let l = 0; l < layers; l++) {
    const w = new Float32Array(width * width);
    for (let i = 0; i < w.length; i++) w[i] = rnd() * k * (l === 3 ? scale : 1);
    const b = new Float32Array(width).map(() => rnd() * 0.1);
    const wn = g.const(`dense_${l}/kernel`, { dtype: 'float32', shape: [width, width], data: w });
    const bn = g.const(`dense_${l}/bias`, { dtype: 'float32', shape: [width], data: b });
    const m = g.op('MatMul', `dense_${l}/MatMul`, [x, wn], { T: A.dtype('float32'), transpose_a: A.bool(false), transpose_b: A.bool(false) });
    const a = g.op('BiasAdd', `dense_${l}/BiasAdd`, [m, bn], { T: A.dtype('float32') });
    x = g.op('Relu', `dense_${l}/Relu`, [a], { T: A.dtype('float32') });
  }
  return encodeGraphDef(g.build([x]));
}

interface Measure {
  seconds: number;
  rssMb: number;
}

/** Wall time and peak RSS of a fresh process (GNU time). */
function measure(args: string[]): Measure {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0 && r.status !== 1) throw new Error(`${args.join(' ')}: exit ${r.status}: ${r.stderr.slice(-500)}`);
  const kb = Number(r.stderr.trim().split('\n').pop());
  return { seconds, rssMb: kb / 1024 };
}

const d = mkdtempSync(join(tmpdir(), 'parity-big-'));
const ref = join(d, 'dense134.pb');
const cand = join(d, 'dense134-scaled.pb');
writeFileSync(ref, denseChain(8, 4096));
writeFileSync(cand, denseChain(8, 4096, 1.001));
const weightMb = statSync(ref).size / 2 ** 20;
const reader = join(d, 'read.mjs');
writeFileSync(reader, `import { readFileSync } from 'node:fs'; const b = readFileSync(process.argv[2]); let s = 0; for (let i = 0; i < b.length; i += 4096) s += b[i]; console.log(s);\n`);

const rows: [string, Measure, number][] = [];
for (let rep = 0; rep < 2; rep++) {
  rows.push(['bare node reading the .pb', measure([reader, ref]), weightMb]);
  for (const [b, bin] of builds) rows.push([`parity run (${b})`, measure([bin, 'run', ref]), weightMb]);
  for (const [b, bin] of builds) rows.push([`parity compare (${b}; one layer scaled by 1.001)`, measure([bin, 'compare', ref, cand]), 2 * weightMb]);
}
console.log(`dense134: 8 x 4096x4096 dense layers, ${weightMb.toFixed(0)} MB .pb (${d})`);
console.log('| process | wall | peak RSS | RSS / weight bytes | target |');
console.log('|---|---|---|---|---|');
for (const [label, m, w] of rows) {
  const target = label.startsWith('parity run') ? `<= ${(1.5 * w + 200).toFixed(0)} MB` : label.startsWith('parity compare') ? `<= ${(1.5 * w + 300).toFixed(0)} MB` : '';
  console.log(`| ${label} | ${m.seconds.toFixed(2)} s | ${m.rssMb.toFixed(0)} MB | ${(m.rssMb / w).toFixed(2)}x | ${target} |`);
}
const bare = Math.min(...rows.filter((r) => r[0].startsWith('bare')).map((r) => r[1].seconds));
for (const [b] of builds) {
  const run = Math.min(...rows.filter((r) => r[0] === `parity run (${b})`).map((r) => r[1].seconds));
  console.log(`parity run (${b}) / bare read: ${(run / bare).toFixed(1)}x (target <= 3x)`);
}
