import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lift } from '../../src/lift/index.js';
import { cnn, folded, merges, mobile, nchw, needsOps, resizes, separable, writePb } from './graphs.js';
import { configLayers, outDir } from './support.js';

/** Debian's python3 where it is (the project's reference interpreter), else the one on PATH. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const hasPython = (() => {
  try {
    execFileSync(PYTHON, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** (name, class) of every layer call in model.py: `keras.Input(... name="x")`, `layers.Cls(..., name="n")(...)`, `ops.fn(...)  # n`. */
function pythonStructure(src: string): [string, string][] {
  const out: [string, string][] = [];
  for (const line of src.split('\n')) {
    let m = /= keras\.Input\(.*name="([^"]+)"\)$/.exec(line);
    if (m) out.push([m[1]!, 'InputLayer']);
    m = /= layers\.(\w+)\(.*name="([^"]+)"\)\(.*\)$/.exec(line);
    if (m) out.push([m[2]!, m[1]!]);
    m = /= ops\.(\w+)\(.*\)  # (\S+)$/.exec(line);
    if (m) out.push([m[2]!, `ops.${m[1]}`]);
  }
  return out;
}

const OP_FN: Record<string, string> = { Transpose: 'transpose', Multiply: 'multiply', Add: 'add', Subtract: 'subtract', Take: 'take' };

describe('model.py builds the same model as model.keras', () => {
  for (const [label, graph] of [['cnn', cnn], ['mobile', mobile], ['folded', folded], ['merges', merges], ['ops', needsOps], ['resizes', resizes], ['separable', separable], ['nchw', nchw]] as const) {
    it(`${label}: same layer names and classes in the same order${hasPython ? '; compiles (python3 -m py_compile)' : ''}`, async () => {
      const out = outDir();
      await lift(writePb(graph()), { out, prove: false });
      const src = readFileSync(`${out}/model.py`, 'utf8');
      const fromConfig = configLayers(`${out}/model.keras`).map((l) => [String(l.name), String(l.module).startsWith('keras.src.ops') ? `ops.${OP_FN[String(l.class_name)]}` : String(l.class_name)]);
      expect(pythonStructure(src)).toEqual(fromConfig);
      expect(fromConfig.length).toBeGreaterThan(2);
      if (hasPython) execFileSync(PYTHON, ['-m', 'py_compile', `${out}/model.py`]);
    });
  }
});
