import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';

/**
 * How far the write-ahead log has been copied into the database file, read from the wal-index (the
 * `-shm` file) without taking part in it: a checkpoint run to look would itself do the copying. Layout
 * from https://sqlite.org/walformat.html §2.1: the header's mxFrame (frames in the log) at byte 16, and
 * the checkpoint information after the header's two 48-byte copies, nBackfill (frames copied) at byte 96,
 * both 32-bit in the machine's byte order.
 */
export function walIndex(dbFile: string): { frames: number; copied: number } {
  const fd = openSync(`${dbFile}-shm`, 'r');
  try {
    const header = Buffer.alloc(136);
    readSync(fd, header, 0, header.length, 0);
    const u32 = (at: number) => (endianness() === 'LE' ? header.readUInt32LE(at) : header.readUInt32BE(at));
    return { frames: u32(16), copied: u32(96) };
  } finally {
    closeSync(fd);
  }
}
