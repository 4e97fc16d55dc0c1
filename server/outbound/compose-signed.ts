import type { Composition, MessageComposer, SigningKey } from '../seams.js';
import { compose } from './compose.js';
import { signMessage } from './dkim-sign.js';

/** Composes and DKIM-signs on the calling thread; the worker threads run this too (workers/tasks.ts). */
export async function composeSigned(message: Composition, key: SigningKey): Promise<Buffer> {
  return signMessage(await compose(message), key);
}

/** For tools that run the pipeline without the server's worker threads. */
export const composeHere: MessageComposer = { composeSigned };
