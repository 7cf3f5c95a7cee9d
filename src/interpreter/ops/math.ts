import { registerOps } from '../registry.js';

registerOps({});
