import { EventEmitter } from 'node:events';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  watch,
  writeFileSync,
  type FSWatcher,
} from 'node:fs';
import { dirname, join } from 'node:path';
import tls from 'node:tls';
import { acmePaths, readAcmePair } from './acme-store.js';
import type { Logger } from './logger.js';

/** Where the certificate in service came from (shown in /health). */
export type CertificateSource = 'acme' | 'file' | 'self-signed';

export interface TlsMaterial {
  key: string;
  cert: string;
  selfSigned: boolean;
  source: CertificateSource;
}

/** The floor on every TLS listener: TLS 1.0 and 1.1 are deprecated (RFC 8996). */
export const TLS_MIN_VERSION: tls.SecureVersion = 'TLSv1.2';

/** What a hop's TLS was, as recorded in the Received header and the Message's `auth.tls`. */
export interface TlsHop {
  version: string;
  cipher: string;
}

export interface TlsSource {
  dataDir: string;
  certFile: string | null;
  keyFile: string | null;
  hostname: string;
  /** ACME is on: a pair it obtained (in `<dataDir>/acme/`) is served before the others. */
  acme?: boolean;
}

function selfSignedPaths(dataDir: string): { certPath: string; keyPath: string } {
  const dir = join(dataDir, 'tls');
  return { certPath: join(dir, 'self-signed.crt'), keyPath: join(dir, 'self-signed.key') };
}

/**
 * The certificate the MX, SMTP submission and IMAP present: the configured one, or a self-signed
 * certificate created once in the data directory so a laptop install has working TLS with no setup
 * (DESIGN §4). A pair that does not load as a TLS context (unreadable, not PEM, key not matching the
 * certificate) throws.
 */
export async function loadTlsMaterial(options: TlsSource): Promise<TlsMaterial> {
  if (options.acme) {
    // A pair that does not load (a crash between writing the key and the certificate) is passed over:
    // the renewal job sees a non-ACME certificate in service and orders a new one.
    const pair = readAcmePair(acmePaths(options.dataDir));
    if (pair) {
      try {
        return checked({ ...pair, selfSigned: false, source: 'acme' });
      } catch {
        // fall through to the configured or self-signed pair
      }
    }
  }
  if (options.certFile && options.keyFile) {
    return checked({
      cert: readFileSync(options.certFile, 'utf8'),
      key: readFileSync(options.keyFile, 'utf8'),
      selfSigned: false,
      source: 'file',
    });
  }
  const { certPath, keyPath } = selfSignedPaths(options.dataDir);
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    mkdirSync(dirname(certPath), { recursive: true, mode: 0o700 });
    // Imported here: only a first start without a certificate needs the generator.
    const { default: selfsigned } = await import('selfsigned');
    const notBeforeDate = new Date();
    const pems = await selfsigned.generate([{ name: 'commonName', value: options.hostname }], {
      keySize: 2048,
      algorithm: 'sha256',
      notBeforeDate,
      notAfterDate: new Date(notBeforeDate.getTime() + 825 * 86_400_000),
      extensions: [
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: options.hostname },
            { type: 2, value: 'localhost' },
          ],
        },
      ],
    });
    writeFileSync(keyPath, pems.private, { mode: 0o600 });
    writeFileSync(certPath, pems.cert, { mode: 0o644 });
  }
  chmodSync(keyPath, 0o600);
  return checked({
    cert: readFileSync(certPath, 'utf8'),
    key: readFileSync(keyPath, 'utf8'),
    selfSigned: true,
    source: 'self-signed',
  });
}

/** Building the context is what validates the pair; a listener would otherwise fail on its first handshake. */
function checked(material: TlsMaterial): TlsMaterial {
  tls.createSecureContext({ key: material.key, cert: material.cert, minVersion: TLS_MIN_VERSION });
  return material;
}

/** Lets a burst of writes (key, then certificate; an editor's temp file and rename) settle into one reload. */
const RELOAD_DEBOUNCE_MS = 250;

/**
 * The current certificate, reloaded when its files change or on demand (SIGHUP). Listeners apply a new
 * pair to new handshakes only, so open sessions keep the one they negotiated. A pair that fails to load
 * keeps the old one in service and is logged.
 */
export class LiveTls extends EventEmitter<{ reloaded: [TlsMaterial]; reload_failed: [Error] }> {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<boolean> = Promise.resolve(true);

  private constructor(
    private readonly source: TlsSource,
    private readonly log: Logger,
    private material: TlsMaterial,
  ) {
    super();
  }

  static async load(source: TlsSource, log: Logger): Promise<LiveTls> {
    return new LiveTls(source, log, await loadTlsMaterial(source));
  }

  current(): TlsMaterial {
    return this.material;
  }

  /** Reads the files again; true when the new pair is in service. Reloads run one at a time. */
  reload(reason: string): Promise<boolean> {
    this.reloading = this.reloading.then(() => this.reloadNow(reason));
    return this.reloading;
  }

  private async reloadNow(reason: string): Promise<boolean> {
    try {
      this.material = await loadTlsMaterial(this.source);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.log.error(
        { event: 'tls.reload_failed', reason, err: error.message },
        'new certificate not loaded; keeping the current one',
      );
      this.emit('reload_failed', error);
      return false;
    }
    this.log.info(
      { event: 'tls.reloaded', reason, self_signed: this.material.selfSigned, source: this.material.source },
      'certificate reloaded',
    );
    this.emit('reloaded', this.material);
    return true;
  }

  /**
   * Watches the directories holding the pair rather than the files: renaming a new file into place
   * (how certbot and most deploy tools replace certificates) ends a watch on the old inode.
   */
  watch(): void {
    const files =
      this.source.certFile && this.source.keyFile
        ? [this.source.certFile, this.source.keyFile]
        : Object.values(selfSignedPaths(this.source.dataDir));
    const names = new Map<string, Set<string>>();
    for (const file of files) {
      const dir = dirname(file);
      const set = names.get(dir) ?? new Set<string>();
      set.add(file.slice(dir.length + 1));
      names.set(dir, set);
    }
    for (const [dir, wanted] of names) {
      const watcher = watch(dir, { persistent: false }, (_type, name) => {
        if (name === null || wanted.has(name.toString())) this.schedule();
      });
      watcher.on('error', (err) =>
        this.log.warn({ event: 'tls.watch_failed', err: err.message }, 'certificate watch failed'),
      );
      this.watchers.push(watcher);
    }
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload('file_changed'), RELOAD_DEBOUNCE_MS).unref();
  }

  close(): void {
    clearTimeout(this.timer);
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
  }
}
