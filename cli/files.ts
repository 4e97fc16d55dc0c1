import { constants } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { stripControls } from './output.js';

const MAX_NAME_BYTES = 255;

/**
 * A sender-chosen attachment name made safe to create inside a directory, or null when it must be
 * refused: names with a path separator or that are only dots never become paths.
 */
export function safeFilename(name: string): string | null {
  const cleaned = stripControls(name).trim();
  if (cleaned === '' || /[/\\]/.test(cleaned) || /^\.+$/.test(cleaned)) return null;
  // No hidden files, and none of the characters Windows refuses.
  let safe = cleaned.replace(/^\.+/, '_').replace(/[<>:"|?*]/g, '_');
  while (Buffer.byteLength(safe) > MAX_NAME_BYTES) {
    const dot = safe.lastIndexOf('.');
    const ext = dot > 0 && safe.length - dot <= 16 ? safe.slice(dot) : '';
    safe = [...safe.slice(0, safe.length - ext.length)].slice(0, -1).join('') + ext;
  }
  return safe;
}

export type WriteResult = { status: 'saved'; path: string } | { status: 'exists' | 'refused'; path: string };

/**
 * Writes `data` as `dir/name` and nowhere else: the target must resolve inside `dir`, an existing
 * file is kept unless `force`, and a symlink planted at the target is never followed.
 */
export async function writeInside(
  dir: string,
  name: string,
  data: Uint8Array,
  force: boolean,
): Promise<WriteResult> {
  const root = resolve(dir);
  const target = join(root, name);
  const rel = relative(root, target);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || rel.includes('/') || rel.includes('\\')) {
    return { status: 'refused', path: target };
  }
  await mkdir(root, { recursive: true });
  const flags =
    constants.O_WRONLY |
    constants.O_CREAT |
    constants.O_NOFOLLOW |
    (force ? constants.O_TRUNC : constants.O_EXCL);
  let handle;
  try {
    handle = await open(target, flags, 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return { status: 'exists', path: target };
    if (code === 'ELOOP') return { status: 'refused', path: target };
    throw err;
  }
  try {
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
  return { status: 'saved', path: target };
}
