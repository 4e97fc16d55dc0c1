import { PipelineSystemMailer } from './mail/pipeline-mailer.js';
import type { ServerConfig } from './config.js';
import { loadOrCreateSecret, prepareDataDir } from './data-dir.js';
import { migrate, openDatabase } from './db/open.js';
import { buildDeps } from './deps.js';
import { systemClock } from './lib/clock.js';
import { createLogger } from './lib/logger.js';
import { createResolver } from './lib/resolver.js';
import { mintOperatorKey } from './mail/postmaster.js';
import { composeHere } from './outbound/compose-signed.js';

/**
 * `loftbox server operator-key`: whoever can read the data directory is the operator. Mints a
 * `receive` key of the system organization, with which the postmaster mailbox (postmaster@ and abuse@
 * of every hosted domain) is read through the ordinary inbox API. Safe while the server runs (WAL).
 */
export function operatorKeyFromDataDir(config: ServerConfig): {
  api_key: string;
  api_key_id: string;
  mailbox_id: string;
  mailbox_address: string;
} {
  const dataDir = prepareDataDir(config.dataDir);
  const db = openDatabase(dataDir.dbFile);
  try {
    migrate(db);
    const deps = buildDeps({
      config: { ...config, dataDir: dataDir.root },
      db,
      clock: systemClock,
      log: createLogger('silent'),
      secret: loadOrCreateSecret(dataDir.root),
      publicUrl: () => config.publicUrl ?? '',
      resolve: createResolver(config.dnsServers),
      composer: composeHere,
      mailer: (built) => new PipelineSystemMailer(built),
    });
    const { key, mailbox } = mintOperatorKey(deps);
    return {
      api_key: key.plaintext,
      api_key_id: key.row.id,
      mailbox_id: mailbox.id,
      mailbox_address: mailbox.address,
    };
  } finally {
    db.close();
  }
}
