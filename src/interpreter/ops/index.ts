/** Importing this module registers every op family's kernels. */
import './basic.js';
import './math.js';
import './matmul.js';
import './reduce.js';
import './nn.js';
import './conv.js';
import './array.js';
import './slice.js';
import './image.js';
import './control.js';
import './lists.js';
import './quantized.js';
export { getKernel, supportedOps } from '../registry.js';
