import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * A copy of a tfjs graph model (model.json and its weight files) in `dir` with every node but
 * its inputs renamed, so that names pair nothing and only numeric alignment can pair it: the
 * stand-in for a hand conversion that kept the computation and none of the names. `perturb`
 * may change the first weight file's bytes (a fault); `only` limits the renaming to the nodes
 * it accepts (a conversion that kept most names). Returns the new model.json.
 */
export function renamedTfjsCopy(modelJson: string, dir: string, perturb?: (weights: Buffer) => void, only?: (node: string) => boolean): string {
  const j = JSON.parse(readFileSync(modelJson, 'utf8')) as {
    modelTopology: { node: { name: string; op: string; input?: string[] }[] };
    weightsManifest: { paths: string[]; weights: { name: string }[] }[];
    signature?: unknown;
  };
  const keep = new Set(j.modelTopology.node.filter((n) => n.op === 'Placeholder').map((n) => n.name));
  const rn = (s: string) => {
    const m = /^(\^?)([^:]+)(.*)$/.exec(s)!;
    return keep.has(m[2]!) || (only && !only(m[2]!)) ? s : `${m[1]}renamed_${m[2]!.replace(/\//g, '_')}${m[3]}`;
  };
  for (const n of j.modelTopology.node) {
    n.name = rn(n.name);
    if (n.input) n.input = n.input.map(rn);
  }
  let first = true;
  for (const g of j.weightsManifest) {
    for (const w of g.weights) w.name = rn(w.name);
    for (const p of g.paths) {
      if (first && perturb) {
        const bin = readFileSync(join(dirname(modelJson), p));
        perturb(bin);
        writeFileSync(join(dir, p), bin);
      } else copyFileSync(join(dirname(modelJson), p), join(dir, p));
      first = false;
    }
  }
  // The signature names the outputs by their old names.
  delete j.signature;
  const out = join(dir, 'renamed.json');
  writeFileSync(out, JSON.stringify(j));
  return out;
}
