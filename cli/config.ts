import { join } from 'node:path';
import Conf from 'conf';
import { readEnv, type Env } from './env.js';
import { CliError, usageError } from './errors.js';
import type { Setting } from './setting.js';

export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080';

/** What `register` and `login` keep between runs; the key is the only secret, hence mode 0600. */
export interface StoredConfig {
  baseUrl?: string;
  apiKey?: string;
  apiKeyId?: string;
  orgId?: string;
  ownerEmail?: string;
  agentId?: string;
  mailboxId?: string;
  mailboxAddress?: string;
  /** Last event-stream cursor per server and key, so `events tail` resumes where it stopped. */
  eventCursors?: Record<string, string>;
}

/** `null` removes a key. */
export type ConfigPatch = { [K in keyof StoredConfig]?: StoredConfig[K] | null };

export interface ConfigStore {
  readonly path: string;
  read(): StoredConfig;
  update(patch: ConfigPatch): void;
}

function applyPatch(current: StoredConfig, patch: ConfigPatch): StoredConfig {
  const next: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete next[key];
    else if (value !== undefined) next[key] = value;
  }
  return next as StoredConfig;
}

/**
 * The config file through conf: `~/.config/loftbox/config.json` (env-paths with an empty suffix, so
 * XDG_CONFIG_HOME applies), or LOFTBOX_CONFIG_DIR. Opened on first use: commands that need no
 * configuration never touch the disk.
 */
export function fileConfigStore(env: Env): ConfigStore {
  let conf: Conf<StoredConfig> | undefined;
  const open = (): Conf<StoredConfig> => {
    if (conf) return conf;
    const dir = readEnv(env, 'LOFTBOX_CONFIG_DIR');
    try {
      conf = new Conf<StoredConfig>({
        projectName: 'loftbox',
        projectSuffix: '',
        configFileMode: 0o600,
        accessPropertiesByDotNotation: false,
        ...(dir ? { cwd: dir } : {}),
      });
    } catch (err) {
      throw configError(dir ? join(dir, 'config.json') : 'in the config directory', err);
    }
    return conf;
  };
  return {
    get path() {
      return open().path;
    },
    read() {
      const store = open();
      try {
        return { ...store.store };
      } catch (err) {
        throw configError(store.path, err);
      }
    },
    update(patch) {
      const store = open();
      try {
        store.store = applyPatch(store.store, patch);
      } catch (err) {
        throw configError(store.path, err);
      }
    },
  };
}

function configError(path: string, err: unknown): CliError {
  const why = err instanceof SyntaxError ? 'is not valid JSON' : `cannot be used (${(err as Error).message})`;
  return new CliError('config_error', `The config file ${path} ${why}.`, {
    hint: 'Fix or remove it; `loftbox register` or `loftbox login --with-key` writes a new one.',
  });
}

export function memoryConfigStore(initial: StoredConfig = {}, path = '(memory)'): ConfigStore {
  let state: StoredConfig = { ...initial };
  return {
    path,
    read: () => ({ ...state }),
    update(patch) {
      state = applyPatch(state, patch);
    },
  };
}

export interface Settings {
  baseUrl: Setting<string>;
  apiKey: Setting;
  mailboxId: Setting;
  /** The stored agent, when the stored identity applies to the resolved server and key. */
  agentId: string | undefined;
  /** Known without a request only when the key is the stored one. */
  apiKeyId: string | undefined;
  /** Set when the config file holds credentials for another server, which are then not used. */
  configBaseUrl: string | undefined;
}

export interface SettingFlags {
  baseUrl?: string | undefined;
  apiKey?: string | undefined;
  mailboxId?: string | undefined;
}

export function normaliseBaseUrl(raw: string, from: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw usageError(`${from} is not a URL: ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`${from} must be an http:// or https:// URL: ${raw}`);
  }
  return url.toString().replace(/\/+$/, '');
}

/** The installer's shim names the server it installed from; without it, the local server. */
function defaultBaseUrl(env: Env): string {
  const installed = readEnv(env, 'LOFTBOX_DEFAULT_BASE_URL');
  return installed ? normaliseBaseUrl(installed, 'LOFTBOX_DEFAULT_BASE_URL') : DEFAULT_BASE_URL;
}

function pick(flag: string | undefined, env: string | undefined, config: string | undefined): Setting {
  if (flag !== undefined && flag !== '') return { value: flag, source: 'flag' };
  if (env !== undefined) return { value: env, source: 'env' };
  if (config !== undefined && config !== '') return { value: config, source: 'config' };
  return { value: undefined, source: 'unset' };
}

/**
 * flag > environment > config file > default, one setting at a time (DESIGN §4). Stored credentials
 * belong to the server they were issued by: when the resolved base URL is another server, the stored
 * key, mailbox and agent are not used, so a key is never sent to a server it was not made for.
 */
export function resolveSettings(flags: SettingFlags, env: Env, stored: StoredConfig): Settings {
  const rawUrl = pick(flags.baseUrl, readEnv(env, 'LOFTBOX_BASE_URL'), stored.baseUrl);
  const defaultUrl = defaultBaseUrl(env);
  const baseUrl: Setting<string> =
    rawUrl.value === undefined
      ? { value: defaultUrl, source: 'default' }
      : {
          value: normaliseBaseUrl(
            rawUrl.value,
            { flag: '--base-url', env: 'LOFTBOX_BASE_URL', config: 'baseUrl in the config file' }[
              rawUrl.source as 'flag' | 'env' | 'config'
            ],
          ),
          source: rawUrl.source,
        };
  const storedUrl = stored.baseUrl ? normaliseStored(stored.baseUrl) : defaultUrl;
  const applies = storedUrl === baseUrl.value;
  const usable = applies ? stored : {};
  const apiKey = pick(flags.apiKey, readEnv(env, 'LOFTBOX_API_KEY'), usable.apiKey);
  const mailboxId = pick(flags.mailboxId, readEnv(env, 'LOFTBOX_MAILBOX_ID'), usable.mailboxId);
  return {
    baseUrl,
    apiKey,
    mailboxId,
    agentId: apiKey.source === 'config' ? usable.agentId : undefined,
    apiKeyId: apiKey.source === 'config' ? usable.apiKeyId : undefined,
    configBaseUrl: !applies && stored.apiKey ? storedUrl : undefined,
  };
}

function normaliseStored(raw: string): string {
  try {
    return normaliseBaseUrl(raw, 'baseUrl in the config file');
  } catch {
    return raw;
  }
}
