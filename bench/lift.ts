/**
 * Lifts every graph model shipped with the devDependency @vladmandic/human and prints the
 * README table of `parity lift`: model, nodes, stock layers / keras.ops / cannot lift, proven,
 * lift time (read + observe + recognise + write; the proof's time apart).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/lift.js [--json out.json] [model ...]
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { lift } from '../src/lift/index.js';
import { errorMessage } from '../src/core/errors.js';

const dir = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models');
const args = process.argv.slice(2);
const jsonAt = args.indexOf('--json');
const jsonOut = jsonAt >= 0 ? args[jsonAt + 1] : undefined;
const only = args.filter((a, i) => jsonAt < 0 || (i !== jsonAt && i !== jsonAt + 1));
const models = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'models.json').map((f) => f.slice(0, -5)).filter((m) => !only.length || only.includes(m)).sort();

/**
 * Models whose graph ends in post-processing lift cannot express (TopK, NMS, gathers): also lifted
 * up to the network's own outputs (`--outputs`), as a user would.
 */
const CUTS: Record<string, string[]> = {
  centernet: ['tower_0/wh', 'tower_0/keypoints'],
  // The SSD heads before Postprocessor (decode, NMS, TensorList padding).
  handtrack: ['StatefulPartitionedCall/concat', 'StatefulPartitionedCall/concat_1'],
  // The four CenterNet heads before the ArgMax/GatherNd keypoint decoding.
  'movenet-lightning': ['StatefulPartitionedCall/Sigmoid', 'StatefulPartitionedCall/Sigmoid_1', 'StatefulPartitionedCall/kpt_regress_0/conv2d_6/BiasAdd', 'StatefulPartitionedCall/kpt_offset_0/conv2d_7/BiasAdd'],
};

const runs = models.flatMap((m) => [{ m, outputs: undefined as string[] | undefined }, ...(CUTS[m] ? [{ m, outputs: CUTS[m] }] : [])]);
const rows: Record<string, unknown>[] = [];
console.log('| model | nodes | stock layers | keras.ops | cannot lift | proven | lift time | proof time |');
console.log('|---|---:|---:|---:|---|---|---:|---:|');
for (const { m, outputs } of runs) {
  const out = join(tmpdir(), `lift-bench-${m}${outputs ? '-cut' : ''}`);
  const label = outputs ? `${m} \`--outputs ${outputs.join(',')}\`` : m;
  try {
    const r = await lift(join(dir, `${m}.json`), { out, seeds: 2, ...(outputs ? { outputs } : {}) });
    const cannot = r.unliftable.map((u) => `${u.what.split(' (')[0]} (${u.nodes.length})`).join(', ') || '-';
    const proven = r.status === 'proven' ? 'yes' : r.status === 'unliftable' ? 'no (not lifted)' : r.status === 'unproven' ? 'no (runner lacks keras.ops)' : `no (${r.proof?.summary ?? r.status})`;
    console.log(`| ${label} | ${r.counts.nodes} | ${r.counts.layers} | ${r.counts.ops} | ${cannot} | ${proven} | ${(r.timings.liftMs / 1000).toFixed(1)} s | ${(r.timings.proofMs / 1000).toFixed(1)} s |`);
    rows.push({ model: m, ...(outputs ? { outputs } : {}), status: r.status, counts: r.counts, unliftable: r.unliftable, timings: r.timings, summary: r.proof?.summary, unproven: r.unproven?.split('\n').slice(0, 4).join(' | ') });
  } catch (e) {
    console.log(`| ${label} | ? | ? | ? | error: ${errorMessage(e).split('\n')[0]} | no | - | - |`);
    rows.push({ model: m, ...(outputs ? { outputs } : {}), error: errorMessage(e) });
  }
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(rows, null, 2) + '\n');
