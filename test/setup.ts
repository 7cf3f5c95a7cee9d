import { initBackend } from '../src/backend/index.js';

// Tests run on the default backend choice (wasm here), as users do; PARITY_BACKEND forces one.
await initBackend((process.env.PARITY_BACKEND as 'wasm' | 'cpu' | 'tensorflow' | undefined) ?? 'auto');
