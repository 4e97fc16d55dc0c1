// The worker threads' module when the server runs from TypeScript source (under the test runner):
// tsx must be registered inside the thread itself, which `--import tsx` in a worker's execArgv does
// not do on Node 20. The build bundles tasks.ts as dist/server/workers.mjs instead.
import { register } from 'tsx/esm/api';

register();
export const { examine, composeSigned, checkpoint, warmUp } = await import('./tasks.ts');
