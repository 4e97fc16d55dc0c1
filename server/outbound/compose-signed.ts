import { compose, type Composition } from './compose.js';
import { signMessage, type SigningKey } from './dkim-sign.js';

/**
 * Composes a message and DKIM-signs it: the CPU-heavy part of a send (a third of the main thread's time
 * under API load, bench/PROFILE.md), so the server hands it to its worker threads (content-workers.ts);
 * the result is the same bytes wherever it runs.
 */
export interface MessageComposer {
  composeSigned(message: Composition, key: SigningKey): Promise<Buffer>;
}

export async function composeSigned(message: Composition, key: SigningKey): Promise<Buffer> {
  return signMessage(await compose(message), key);
}

/** On the calling thread: for tools that send without the server's workers, and the workers themselves. */
export const composeHere: MessageComposer = { composeSigned };
