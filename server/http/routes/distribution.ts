import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApiError } from '../../lib/errors.js';
import { route } from '../route.js';

/**
 * The server hands out its own installer, skill bundle and CLI (CONTRACT §9), from the build output:
 * dist/ next to the bundled server, or the repository's dist/ when running from sources.
 */
function distFile(name: string): string {
  for (const base of ['../', '../../../dist/']) {
    const path = fileURLToPath(new URL(`${base}${name}`, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new ApiError(404, 'not_built', `${name} is not part of this build (run npm run build).`);
}

const file = (path: string, name: string, contentType: string, summary: string) =>
  route({
    method: 'get',
    path,
    tag: 'Distribution',
    summary,
    access: { public: true },
    responses: { 200: { description: summary, contentType } },
    handler() {
      return {
        body: readFileSync(distFile(name)),
        contentType,
        headers: { 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' },
      };
    },
  });

export const distributionRoutes = [
  file(
    '/install.sh',
    'install.sh',
    'text/x-shellscript; charset=utf-8',
    'POSIX installer for the skills and the CLI',
  ),
  file(
    '/cli/loftbox.mjs',
    'cli/loftbox.mjs',
    'text/javascript; charset=utf-8',
    'The bundled loftbox CLI (needs only Node)',
  ),
  file(
    '/skills/loftbox-skills.tar.gz',
    'skills/loftbox-skills.tar.gz',
    'application/gzip',
    'The skill bundle',
  ),
  route({
    method: 'get',
    path: '/skill-version.json',
    tag: 'Distribution',
    summary: 'Version, commit and checksums of the skill bundle and CLI; URLs made absolute for this server',
    access: { public: true },
    responses: { 200: { description: 'Skill version manifest', contentType: 'application/json' } },
    handler({ deps }) {
      const manifest = JSON.parse(readFileSync(distFile('skill-version.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      const absolute = (value: unknown) =>
        typeof value === 'string' && value.startsWith('/') ? `${deps.publicUrl()}${value}` : value;
      return {
        body: {
          ...manifest,
          archive_url: absolute(manifest.archive_url),
          cli_url: absolute(manifest.cli_url),
        },
        headers: { 'Cache-Control': 'no-cache' },
      };
    },
  }),
];
