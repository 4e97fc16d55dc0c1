import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, describeSettings, loadConfig } from '../../server/config.js';

const file = (content: unknown) => {
  const path = join(mkdtempSync(join(tmpdir(), 'loftbox-config-')), 'config.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};

describe('configuration', () => {
  it('runs on embedded defaults with no input', () => {
    const { config, sources } = loadConfig({ env: {} });
    expect(config).toMatchObject({
      dataDir: './loftbox-data',
      httpHost: '127.0.0.1',
      httpPort: 8080,
      mailDomain: 'loftbox.localhost',
      delivery: 'capture',
      dailySendLimit: 100,
      dev: false,
    });
    expect(sources.httpPort).toBe('default');
  });

  it('reads a duration with its unit, or a bare 0, and refuses a bare number otherwise', () => {
    const read = (value: string) =>
      loadConfig({ env: { LOFTBOX_DB_CHECKPOINT_INTERVAL: value } }).config.dbCheckpointInterval;
    expect(read('250ms')).toBe(250);
    expect(read('2s')).toBe(2000);
    expect(read('0')).toBe(0);
    expect(read('0ms')).toBe(0);
    expect(() => read('5')).toThrow(ConfigError);
    expect(() => read('5x')).toThrow(ConfigError);
  });

  it('takes flag over env over file over default', () => {
    const path = file({ httpPort: 1111, httpHost: '127.0.0.2', dailySendLimit: 7 });
    const { config, sources } = loadConfig({
      file: path,
      env: { LOFTBOX_HTTP_PORT: '2222', LOFTBOX_HTTP_HOST: '127.0.0.3' },
      flags: { httpPort: '3333' },
    });
    expect([config.httpPort, sources.httpPort]).toEqual([3333, 'flag']);
    expect([config.httpHost, sources.httpHost]).toEqual(['127.0.0.3', 'env']);
    expect([config.dailySendLimit, sources.dailySendLimit]).toEqual([7, 'file']);
    expect(sources.mailDomain).toBe('default');
  });

  it('reads the config file named by LOFTBOX_CONFIG_FILE', () => {
    const { config } = loadConfig({
      env: { LOFTBOX_CONFIG_FILE: file({ mailDomain: 'mail.example.test' }) },
    });
    expect(config.mailDomain).toBe('mail.example.test');
  });

  it('names a certificate or CA file that is missing instead of failing later on first use', () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'loftbox-config-')), 'absent.pem');
    let error: unknown;
    try {
      loadConfig({
        env: { LOFTBOX_OUTBOUND_CA_FILE: missing, LOFTBOX_TLS_CERT: missing, LOFTBOX_TLS_KEY: missing },
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const env of ['LOFTBOX_OUTBOUND_CA_FILE', 'LOFTBOX_TLS_CERT', 'LOFTBOX_TLS_KEY']) {
      expect(problems).toMatch(new RegExp(`${env}.*no readable file`));
    }
    expect(() => loadConfig({ env: { LOFTBOX_ACME_DIRECTORY: 'http://ca.example/directory' } })).toThrow(
      ConfigError,
    );
    const present = file('-----BEGIN CERTIFICATE-----');
    expect(loadConfig({ env: { LOFTBOX_OUTBOUND_CA_FILE: present } }).config.outboundCaFile).toBe(present);
  });

  it('reports every problem at once', () => {
    const path = file({ nope: 1, httpPort: 'x' });
    let error: unknown;
    try {
      loadConfig({ file: path, env: { LOFTBOX_DEV: 'maybe', LOFTBOX_PUBLIC_URL: 'ftp://x' } });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('unknown key "nope"');
    expect(problems).toContain('httpPort');
    expect(problems).toContain('LOFTBOX_DEV');
    expect(problems).toContain('LOFTBOX_PUBLIC_URL');
    expect((error as ConfigError).problems).toHaveLength(4);
  });

  it('never repeats a relay password when reporting a bad relay URL', () => {
    let error: unknown;
    try {
      loadConfig({ env: { LOFTBOX_RELAY_URL: 'http://relayuser:hunter2-secret@relay.example.test:587' } });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toContain('LOFTBOX_RELAY_URL');
    expect(message).toContain('relayuser:***@relay.example.test');
    expect(message).not.toContain('hunter2');
  });

  it('refuses the old LOFTBOX_TRUST_PROXY switch, naming its replacement', () => {
    expect(() => loadConfig({ env: { LOFTBOX_TRUST_PROXY: '1' } })).toThrow(/LOFTBOX_TRUST_PROXY_HOPS/);
  });

  it('parses booleans from the environment', () => {
    expect(loadConfig({ env: { LOFTBOX_DEV: '1' } }).config.dev).toBe(true);
    expect(loadConfig({ env: { LOFTBOX_DEV: 'false' } }).config.dev).toBe(false);
  });

  it('documents every setting with a LOFTBOX_ env name and a doc line', () => {
    for (const entry of describeSettings()) {
      expect(entry.env).toMatch(/^LOFTBOX_[A-Z_]+$/);
      expect(entry.doc.length).toBeGreaterThan(10);
    }
    const names = describeSettings().map((s) => s.env);
    for (const contractName of [
      'LOFTBOX_DATA_DIR',
      'LOFTBOX_HTTP_HOST',
      'LOFTBOX_HTTP_PORT',
      'LOFTBOX_PUBLIC_URL',
      'LOFTBOX_MAIL_DOMAIN',
      'LOFTBOX_DELIVERY',
      'LOFTBOX_DAILY_SEND_LIMIT',
      'LOFTBOX_DEV',
    ]) {
      expect(names).toContain(contractName);
    }
  });
});
