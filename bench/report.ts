/**
 * Report generation for a 1,000+ node graph vs the comparison that produced it.
 * Run: npm run build && node dist/bench/report.js
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { A } from '../src/graph/attrs.js';
import { GraphBuilder, host } from '../src/graph/builder.js';
import { encodeGraphDef } from '../src/formats/graphdef-writer.js';
import { writeTfjsGraphModel } from '../src/formats/tfjs-graph-writer.js';
import { compare } from '../src/index.js';
import { htmlReport } from '../src/report/html.js';
import { junitReport } from '../src/report/junit.js';
import { markdownReport } from '../src/report/markdown.js';
import { jsonReport } from '../src/report/index.js';

/** A deep residual MLP-ish chain with branches: ~1,200 nodes. */
function bigGraph(perturb: boolean) {
  const g = new GraphBuilder();
  g.placeholder('x', 'float32', [1, 16]);
  let cur = 'x';
  for (let i = 0; i < 200; i++) {
    const w = g.const(`b${i}/w`, host('float32', [16, 16], Array.from({ length: 256 }, (_, k) => Math.sin(i * 256 + k) * 0.25)));
    const bias = g.const(`b${i}/bias`, host('float32', [16], Array.from({ length: 16 }, (_, k) => (perturb && i === 120 && k === 3 ? 0.5 : Math.cos(i + k) * 0.01))));
    const mm = g.op('MatMul', `b${i}/MatMul`, [cur, w], { transpose_a: A.bool(false), transpose_b: A.bool(false) });
    const ba = g.op('BiasAdd', `b${i}/BiasAdd`, [mm, bias], { data_format: A.str('NHWC') });
    const t = g.op('Tanh', `b${i}/Tanh`, [ba]);
    cur = g.op('AddV2', `b${i}/add`, [t, cur]);
  }
  return g.build([cur], 'big.pb');
}

async function main(): Promise<void> {
  const d = mkdtempSync(join(tmpdir(), 'bench-report-'));
  writeFileSync(join(d, 'big.pb'), encodeGraphDef(bigGraph(false)));
  const cand = writeTfjsGraphModel(bigGraph(true), join(d, 'cand'));
  const t0 = performance.now();
  const r = await compare(join(d, 'big.pb'), cand, { seed: 1 });
  const tc = performance.now() - t0;
  const t1 = performance.now();
  const html = htmlReport(r);
  const th = performance.now() - t1;
  const t2 = performance.now();
  jsonReport(r);
  junitReport(r);
  markdownReport(r);
  const to = performance.now() - t2;
  console.log(`graph: ${r.graph.length} nodes, ${r.pairs.length} pairs, verdict ${r.verdict}`);
  console.log(`compare: ${tc.toFixed(0)} ms; HTML report: ${th.toFixed(0)} ms (${(html.length / 1e6).toFixed(2)} MB); JSON+JUnit+Markdown: ${to.toFixed(0)} ms`);
  console.log(`report / compare: ${(th / tc).toFixed(2)}x`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
