import type { Env } from './env.js';

export type AgentKind = 'claude-code' | 'codex' | 'hermes' | 'host';

export interface AgentIdentity {
  kind: AgentKind;
  /** Stable across runs in the same workspace on the same host: the dedup key for the agent. */
  externalId: string;
  agentName: string;
  slug: string;
  localPart: string;
}

const KIND_LABEL: Record<AgentKind, { name: string; short: string }> = {
  'claude-code': { name: 'Claude Code', short: 'claude' },
  codex: { name: 'Codex', short: 'codex' },
  hermes: { name: 'Hermes', short: 'hermes' },
  host: { name: 'Agent', short: 'agent' },
};

/** The coding agent running us, from the variables each one sets in its tools' environment. */
export function detectAgentKind(env: Env): AgentKind {
  const names = Object.keys(env).filter((name) => env[name] !== undefined && env[name] !== '');
  if (names.includes('CLAUDECODE') || names.some((n) => n.startsWith('CLAUDE_CODE_'))) return 'claude-code';
  if (names.some((n) => n.startsWith('CODEX_'))) return 'codex';
  if (names.some((n) => n.startsWith('HERMES_'))) return 'hermes';
  return 'host';
}

/** The server's slug rule: lower-case letters and digits in runs joined by single dashes. */
export function slugify(value: string, fallback: string, max = 48): string {
  const slug = value
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/g, '');
  return slug === '' ? fallback : slug;
}

function lastPathPart(cwd: string): string {
  return (
    cwd
      .split(/[\\/]+/)
      .filter(Boolean)
      .pop() ?? ''
  );
}

export function deriveIdentity(env: Env, hostname: string, cwd: string): AgentIdentity {
  const kind = detectAgentKind(env);
  const host = slugify(hostname.split('.')[0] ?? '', 'localhost');
  const dir = lastPathPart(cwd) || 'workspace';
  const dirSlug = slugify(dir, 'workspace', 40);
  const label = KIND_LABEL[kind];
  const slug = `${dirSlug}-${label.short}`;
  return {
    kind,
    externalId: `${kind}:${host}:${dir}`,
    agentName: `${label.name} (${dir})`,
    slug,
    localPart: slug,
  };
}

/** Mailbox providers whose domain says nothing about the owner's organization. */
const PERSONAL_DOMAINS = new Set([
  'gmail.com',
  'googlemail.com',
  'outlook.com',
  'hotmail.com',
  'live.com',
  'yahoo.com',
  'icloud.com',
  'me.com',
  'proton.me',
  'protonmail.com',
  'gmx.com',
  'gmx.de',
  'fastmail.com',
  'aol.com',
]);

/** "acme agents" for owner@acme.com, "alice agents" for alice@gmail.com. */
export function deriveOrgName(ownerEmail: string): string {
  const [local = '', domain = ''] = ownerEmail.toLowerCase().split('@');
  const base = PERSONAL_DOMAINS.has(domain) ? local : (domain.split('.')[0] ?? local);
  return `${base.replace(/[^a-z0-9._-]+/g, ' ').trim() || 'loftbox'} agents`;
}

/** A short random suffix for a slug or local part that is already taken. */
export function withSuffix(base: string, random: () => string): string {
  return `${base.slice(0, 40).replace(/-+$/, '')}-${random()}`;
}
