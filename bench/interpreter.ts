/**
 * Reference interpreter vs tfjs-converter's GraphModel on a real published model, same backend,
 * measured side by side in one run; plus GraphDef decode throughput.
 * Run: npm run bench (after npm run build), or npx tsx bench/interpreter.ts [model.json]
 */
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { tf } from '../src/backend/tf.js';
import { loadGraphModelSync } from '@tensorflow/tfjs-converter';
import { initBackend } from '../src/backend/index.js';
import { readTfjsGraphModel } from '../src/formats/tfjs-graph.js';
import { encodeGraphDef } from '../src/formats/graphdef-writer.js';
import { readGraphDef } from '../src/formats/graphdef.js';
import { Interpreter } from '../src/interpreter/interpreter.js';

function humanModel(name: string): string {
  return join(dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models', `${name}.json`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const backend = process.argv.includes('--backend') ? process.argv[process.argv.indexOf('--backend') + 1]! : 'auto';
  const info = await initBackend(backend as 'auto');
  const modelPath = process.argv.slice(2).find((a) => a.endsWith('.json')) ?? humanModel('blazeface');
  if (!existsSync(modelPath)) throw new Error(`${modelPath} not found`);
  const graph = await readTfjsGraphModel(modelPath);
  const json = JSON.parse(readFileSync(modelPath, 'utf8')) as tf.io.ModelJSON;
  const shards = json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dirname(modelPath), p))));
  const weights = Buffer.concat(shards);
  const gm = loadGraphModelSync([json, weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength)]);
  const inputs = graph.inputs.map((s) => ({ name: s.name, shape: (s.shape ?? []).map((d) => (d < 0 ? 1 : d)), int: s.dtype.startsWith('int') }));
  const makeFeeds = () => new Map(inputs.map((i) => [i.name, i.int ? tf.randomUniform(i.shape, 0, 255, 'int32', 7) : tf.randomUniform(i.shape, 0, 1, 'float32', 7)]));
  const interp = new Interpreter(graph);
  const nodeNames = interp.executionOrder().filter((n) => n.op !== 'Const' && n.op !== 'Placeholder').map((n) => n.name);

  const runInterp = async () => {
    const feeds = makeFeeds();
    const t0 = performance.now();
    for await (const a of interp.run(feeds, { record: 'all' })) {
      await a.tensor.data();
      a.tensor.dispose();
    }
    const ms = performance.now() - t0;
    feeds.forEach((t) => t.dispose());
    return ms;
  };
  const runGm = async () => {
    const feeds = makeFeeds();
    const t0 = performance.now();
    const outs = gm.execute(Object.fromEntries([...feeds].map(([k, v]) => [k, v])), nodeNames) as tf.Tensor[];
    for (const o of outs) await o.data();
    const ms = performance.now() - t0;
    tf.dispose(outs);
    feeds.forEach((t) => t.dispose());
    return ms;
  };
  // Warm up both (kernel compilation, weight upload, the JIT), then alternate runs, in turn
  // first and second (this machine's speed drifts within seconds: 10 runs gave 0.56x-1.12x).
  for (let i = 0; i < 3; i++) {
    await runInterp();
    await runGm();
  }
  const a: number[] = [];
  const b: number[] = [];
  const runs = Number(process.env.BENCH_REPS) || 40;
  for (let i = 0; i < runs; i++) {
    if (i % 2) {
      a.push(await runInterp());
      b.push(await runGm());
    } else {
      b.push(await runGm());
      a.push(await runInterp());
    }
  }
  const mi = median(a);
  const mg = median(b);
  console.log(`model ${modelPath} (${graph.nodes.length} nodes, ${nodeNames.length} recorded), backend ${info.name}`);
  console.log(`interpreter (record every node): median ${mi.toFixed(1)} ms of ${a.length}`);
  console.log(`GraphModel.execute (same nodes):  median ${mg.toFixed(1)} ms`);
  console.log(`ratio interpreter / GraphModel: ${(mi / mg).toFixed(3)}x (target <= 1.10x)`);

  // .pb decode throughput: the same graph encoded as a GraphDef, decoded repeatedly.
  const pb = encodeGraphDef(graph);
  const reps = Math.max(3, Math.ceil(50e6 / pb.length));
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) readGraphDef(pb, 'bench.pb');
  const s = (performance.now() - t0) / 1000;
  console.log(`.pb decode: ${(pb.length / 1e6).toFixed(2)} MB x ${reps} in ${s.toFixed(2)} s = ${((pb.length * reps) / 1e6 / s).toFixed(1)} MB/s`);
  interp.dispose();
  gm.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
