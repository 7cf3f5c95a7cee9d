import { describe, expect, it } from 'vitest';
import '../../src/interpreter/ops/index.js';
import { familyOf, getKernel, opFamily, supportedOps } from '../../src/interpreter/registry.js';

describe('op tables', () => {
  it('load with every op registered once, each tagged with its family', () => {
    // Loading ops/index.js would have thrown on a duplicate.
    expect(supportedOps().length).toBeGreaterThan(100);
    expect(familyOf('Conv2D')).toBe('conv');
    expect(familyOf('MatMul')).toBe('matmul');
    expect(familyOf('Merge')).toBe('control');
  });

  it('a second registration of an op throws at load, naming the op and both families', () => {
    opFamily('first').registerOps({ TestOnlyDuplicate: ([x]) => x! });
    expect(() => opFamily('second').registerOp('TestOnlyDuplicate', ([x]) => x!)).toThrow('op TestOnlyDuplicate is registered twice: by the first ops and by the second ops');
    expect(() => opFamily('first').registerFlowOp('TestOnlyDuplicate', async (xs) => xs)).toThrow('by the first ops and by the first ops');
    // The first registration stands.
    expect(familyOf('TestOnlyDuplicate')).toBe('first');
  });

  it('has no kernel for Placeholder: the interpreter feeds it (an unfed one is an InputError naming the file and input)', () => {
    expect(getKernel('Placeholder')).toBeUndefined();
    expect(getKernel('PlaceholderWithDefault')).toBeDefined();
  });
});
