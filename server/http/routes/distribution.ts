import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApiError } from '../../lib/errors.js';
import { publicOrigin } from '../client-address.js';
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

// The one line of install.sh the server fills in, so `curl <server>/install.sh | sh` installs from,
// and points the CLI at, the server that handed it out.
const SERVED_BY_LINE = /^SERVED_BY=.*$/m;
const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

export const distributionRoutes = [
  route({
    method: 'get',
    path: '/install.sh',
    tag: 'Distribution',
    summary: 'POSIX installer for the skills and the CLI, defaulting to this server',
    access: { public: true },
    responses: {
      200: {
        description: 'POSIX installer for the skills and the CLI',
        contentType: 'text/x-shellscript; charset=utf-8',
      },
    },
    handler({ deps, ctx }) {
      const script = readFileSync(distFile('install.sh'), 'utf8');
      const origin = publicOrigin(ctx, deps);
      return {
        body: script.replace(SERVED_BY_LINE, () => `SERVED_BY=${shellQuote(origin)}`),
        contentType: 'text/x-shellscript; charset=utf-8',
        headers: { 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff', Vary: 'Host' },
      };
    },
  }),
  file(
    '/cli/loftbox.mjs',
    // The self-contained build: an installed CLI is this one file.
    'cli/standalone/loftbox.mjs',
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
    handler({ deps, ctx }) {
      const origin = publicOrigin(ctx, deps);
      const manifest = JSON.parse(readFileSync(distFile('skill-version.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      const absolute = (value: unknown) =>
        typeof value === 'string' && value.startsWith('/') ? `${origin}${value}` : value;
      return {
        body: {
          ...manifest,
          archive_url: absolute(manifest.archive_url),
          cli_url: absolute(manifest.cli_url),
        },
        headers: { 'Cache-Control': 'no-cache', Vary: 'Host' },
      };
    },
  }),
];
