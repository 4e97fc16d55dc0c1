import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/**
 * The content digest of a skill directory, the same function as `skillDigest` in
 * scripts/build-skills.mjs (which writes it to skill-version.json): sha256 over
 * "<relative path>\0<sha256 of the file>\n" for every regular file, sorted by path. Symlinks and
 * other special files are not followed: an installed skill holds none.
 */
export function skillDigest(dir: string): string {
  const files: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files.push(path);
    }
  };
  walk('');
  const hash = createHash('sha256');
  for (const path of files.sort()) hash.update(`${path}\0${sha256(readFileSync(join(dir, path)))}\n`);
  return hash.digest('hex');
}
