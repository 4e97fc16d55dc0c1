import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_BASE_URL, fileConfigStore, resolveSettings } from '../../cli/config.js';
import { EXIT } from '../../cli/exit-codes.js';
import { run } from './cli-harness.js';

const stored = { baseUrl: 'http://config.example:1', apiKey: 'lb_live_config', mailboxId: 'mb_config' };

describe('settings: flag > environment > config file > default, one setting at a time', () => {
  it('base URL', () => {
    const env = { LOFTBOX_BASE_URL: 'http://env.example:2' };
    const flag = { baseUrl: 'http://flag.example:3/' };
    expect(resolveSettings(flag, env, stored).baseUrl).toEqual({
      value: 'http://flag.example:3',
      source: 'flag',
    });
    expect(resolveSettings({}, env, stored).baseUrl).toEqual({
      value: 'http://env.example:2',
      source: 'env',
    });
    expect(resolveSettings({}, {}, stored).baseUrl).toEqual({
      value: 'http://config.example:1',
      source: 'config',
    });
    expect(resolveSettings({}, {}, {}).baseUrl).toEqual({ value: DEFAULT_BASE_URL, source: 'default' });
  });

  it('base URL named by the installer shim: below the config file, above the built-in default', () => {
    const installed = { LOFTBOX_DEFAULT_BASE_URL: 'https://mail.example.test/' };
    expect(resolveSettings({}, installed, {}).baseUrl).toEqual({
      value: 'https://mail.example.test',
      source: 'default',
    });
    expect(resolveSettings({}, installed, stored).baseUrl.value).toBe('http://config.example:1');
    const both = { ...installed, LOFTBOX_BASE_URL: 'http://env.example:2' };
    expect(resolveSettings({}, both, {}).baseUrl.value).toBe('http://env.example:2');
    // A key stored without a server belongs to the default server, which is now the installed one.
    const keyOnly = resolveSettings({}, installed, { apiKey: 'lb_live_x' });
    expect(keyOnly.apiKey).toEqual({ value: 'lb_live_x', source: 'config' });
  });

  it('API key', () => {
    const env = { LOFTBOX_API_KEY: 'lb_live_env' };
    expect(resolveSettings({ apiKey: 'lb_live_flag' }, env, stored).apiKey).toEqual({
      value: 'lb_live_flag',
      source: 'flag',
    });
    expect(resolveSettings({}, env, stored).apiKey).toEqual({ value: 'lb_live_env', source: 'env' });
    expect(resolveSettings({}, {}, stored).apiKey).toEqual({ value: 'lb_live_config', source: 'config' });
    expect(resolveSettings({}, {}, {}).apiKey).toEqual({ value: undefined, source: 'unset' });
  });

  it('mailbox id', () => {
    const env = { LOFTBOX_MAILBOX_ID: 'mb_env' };
    expect(resolveSettings({ mailboxId: 'mb_flag' }, env, stored).mailboxId).toEqual({
      value: 'mb_flag',
      source: 'flag',
    });
    expect(resolveSettings({}, env, stored).mailboxId).toEqual({ value: 'mb_env', source: 'env' });
    expect(resolveSettings({}, {}, stored).mailboxId).toEqual({ value: 'mb_config', source: 'config' });
    expect(resolveSettings({}, {}, {}).mailboxId).toEqual({ value: undefined, source: 'unset' });
  });

  it('treats an empty environment variable as unset', () => {
    expect(resolveSettings({}, { LOFTBOX_API_KEY: '' }, stored).apiKey.source).toBe('config');
  });

  it('never sends a stored key to a server it was not issued by', () => {
    const settings = resolveSettings({ baseUrl: 'http://other.example' }, {}, stored);
    expect(settings.apiKey).toEqual({ value: undefined, source: 'unset' });
    expect(settings.mailboxId.value).toBeUndefined();
    expect(settings.configBaseUrl).toBe('http://config.example:1');
  });
});

describe('whoami', () => {
  const routes = {
    'GET /v1/auth/context': {
      body: {
        organization: { id: 'org_1', name: 'Acme', slug: 'acme', signup_status: 'verified' },
        api_key_id: 'key_1',
        granted_scopes: ['send', 'receive'],
        effective_scopes: [],
      },
    },
    'GET /v1/mailboxes/mb_env': { body: { id: 'mb_env', address: 'bot@loftbox.localhost' } },
  };

  it('shows the resolved values and where each came from, never the key', async () => {
    const result = await run(['whoami', '--json'], {
      env: { LOFTBOX_MAILBOX_ID: 'mb_env', LOFTBOX_BASE_URL: 'http://config.example:1' },
      config: stored,
      routes,
    });
    expect(result.code).toBe(EXIT.ok);
    expect(JSON.parse(result.stdout)).toEqual({
      baseUrl: 'http://config.example:1',
      server: { baseUrl: 'http://config.example:1', source: 'env', from: 'env LOFTBOX_BASE_URL' },
      organization: { id: 'org_1', name: 'Acme', slug: 'acme', signup_status: 'verified' },
      apiKeyId: 'key_1',
      scopes: ['send', 'receive'],
      adminKey: false,
      warnings: [],
      mailboxId: 'mb_env',
      mailboxAddress: 'bot@loftbox.localhost',
      sources: { baseUrl: 'env', apiKey: 'config', mailboxId: 'env' },
      configPath: '/fake/config.json',
    });
    expect(result.stdout).not.toContain('lb_live_config');
    expect(result.calls[0]?.headers.authorization).toBe('Bearer lb_live_config');
  });

  it('says where each value came from in human output too', async () => {
    const result = await run(['whoami', '--api-key', 'lb_live_flag'], {
      env: { LOFTBOX_MAILBOX_ID: 'mb_env' },
      routes,
    });
    expect(result.stdout).toContain(`Server:        ${DEFAULT_BASE_URL} (from default)`);
    expect(result.stdout).toContain('API key:       key_1 (flag)');
    expect(result.stdout).not.toContain('lb_live_flag');
  });
});

describe('the config file', () => {
  let dir: string;
  const savedXdg = process.env.XDG_CONFIG_HOME;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'loftbox-cli-config-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    if (savedXdg === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = savedXdg;
  });

  it('lives in LOFTBOX_CONFIG_DIR with mode 0600', () => {
    const store = fileConfigStore({ LOFTBOX_CONFIG_DIR: dir });
    store.update({ apiKey: 'lb_live_x', mailboxId: 'mb_1' });
    expect(store.path).toBe(join(dir, 'config.json'));
    expect(statSync(store.path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(store.path, 'utf8'))).toEqual({ apiKey: 'lb_live_x', mailboxId: 'mb_1' });
    store.update({ mailboxId: null });
    expect(store.read()).toEqual({ apiKey: 'lb_live_x' });
  });

  it('defaults to <XDG_CONFIG_HOME>/loftbox/config.json, without conf’s -nodejs suffix', () => {
    process.env.XDG_CONFIG_HOME = dir;
    expect(fileConfigStore({}).path).toBe(join(dir, 'loftbox', 'config.json'));
  });

  it('reports a broken file as a config error', async () => {
    writeFileSync(join(dir, 'config.json'), '{ not json');
    const store = fileConfigStore({ LOFTBOX_CONFIG_DIR: dir });
    const result = await run(['whoami', '--json'], { store });
    expect(result.code).toBe(EXIT.failure);
    expect(JSON.parse(result.stdout)).toMatchObject({ reason: 'config_error' });
  });
});
