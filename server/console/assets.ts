import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface Asset {
  body: Buffer;
  type: string;
}

export interface ConsoleAssets {
  /** Fingerprinted URLs, so a changed file gets a new name and old ones may be cached for ever. */
  url: { css: string; js: string; htmx: string };
  byName: Map<string, Asset>;
}

/** From source (tsx, vitest) the files sit next to this module; from dist/server/ two levels up. */
function staticDir(): string {
  const candidates = [
    new URL('./static/', import.meta.url),
    new URL('../../server/console/static/', import.meta.url),
  ];
  for (const candidate of candidates) {
    const dir = fileURLToPath(candidate);
    if (existsSync(`${dir}console.css`)) return dir;
  }
  throw new Error('console: static assets not found');
}

function fingerprinted(byName: Map<string, Asset>, base: string, ext: string, asset: Asset): string {
  const hash = createHash('sha256').update(asset.body).digest('hex').slice(0, 12);
  const name = `${base}.${hash}.${ext}`;
  byName.set(name, asset);
  return `/console/assets/${name}`;
}

export function loadAssets(): ConsoleAssets {
  const dir = staticDir();
  const byName = new Map<string, Asset>();
  const js = 'text/javascript; charset=utf-8';
  // Served from the installed package, never a CDN, so the console works offline and under a strict CSP.
  const htmxPath = createRequire(import.meta.url).resolve('htmx.org/dist/htmx.min.js');
  return {
    byName,
    url: {
      css: fingerprinted(byName, 'console', 'css', {
        body: readFileSync(`${dir}console.css`),
        type: 'text/css; charset=utf-8',
      }),
      js: fingerprinted(byName, 'console', 'js', { body: readFileSync(`${dir}console.js`), type: js }),
      htmx: fingerprinted(byName, 'htmx', 'js', { body: readFileSync(htmxPath), type: js }),
    },
  };
}
