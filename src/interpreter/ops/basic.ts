import { tf } from '../../backend/tf.js';
import { share } from '../../backend/index.js';
import { hostToTf } from '../../backend/convert.js';
import { attrTensor } from '../../graph/attrs.js';
import { ExecutionError } from '../../core/errors.js';
import { opFamily } from '../registry.js';

const { registerOp, registerOps } = opFamily('basic');

/** Graph plumbing: constants, identities, no-ops. Placeholders are fed by the interpreter. */
registerOps({
  Const: (_i, node) => hostToTf(attrTensor(node, 'value'), `constant '${node.name}'`),
  Identity: ([x]) => share(x!),
  Snapshot: ([x]) => share(x!),
  StopGradient: ([x]) => share(x!),
  PreventGradient: ([x]) => share(x!),
  EnsureShape: ([x], node) => {
    const want = node.attrs.shape?.type === 'shape' ? node.attrs.shape.value : null;
    if (want && (want.length !== x!.rank || want.some((d, i) => d >= 0 && d !== x!.shape[i]))) {
      throw new ExecutionError(`EnsureShape at node '${node.name}': shape [${x!.shape}] does not match [${want.map((d) => (d < 0 ? '?' : d))}]`, { node: node.name });
    }
    return share(x!);
  },
  CheckNumerics: ([x], node) => {
    const bad = tf.tidy(() => tf.any(tf.logicalOr(tf.isNaN(x!), tf.isInf(x!))).dataSync()[0]);
    if (bad) throw new ExecutionError(`CheckNumerics failed at node '${node.name}': tensor has NaN or Inf`, { node: node.name });
    return share(x!);
  },
  IdentityN: (xs) => xs.map((x) => share(x)),
  NoOp: () => [],
  PlaceholderWithDefault: ([x]) => share(x!),
});
