import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../server/lib/logger.js';
import { WorkerLoop } from '../../server/lib/worker-loop.js';

describe('WorkerLoop', () => {
  it('logs worker.failed when a scheduled run fails, keeps running, and recovers', async () => {
    const logged: { event: string; worker: string; failures: number }[] = [];
    const log = createLogger(
      'info',
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          logged.push(JSON.parse(chunk.toString()));
          done();
        },
      }),
    );
    let failing = 3;
    let recovered: () => void = () => {};
    const done = new Promise<void>((resolve) => (recovered = resolve));
    const loop = new WorkerLoop(
      async () => {
        if (failing > 0) {
          failing -= 1;
          throw new Error('SQLITE_BUSY: database is locked');
        }
        recovered();
        return 0;
      },
      1,
      { name: 'test', log, maxBackoffMs: 10 },
    );
    loop.start();
    await done;
    await loop.stop();
    expect(logged.map((l) => [l.event, l.worker, l.failures])).toEqual([
      ['worker.failed', 'test', 1],
      ['worker.failed', 'test', 2],
      ['worker.failed', 'test', 3],
    ]);
  });

  it('still rejects a direct tick() with the failure, so callers and tests see it', async () => {
    const loop = new WorkerLoop(() => Promise.reject(new Error('disk full')), 60_000);
    await expect(loop.tick()).rejects.toThrow('disk full');
    await loop.stop();
  });
});
