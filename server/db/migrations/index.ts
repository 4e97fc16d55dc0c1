import controlPlane from './0001_control_plane.sql';
import inbound from './0002_inbound.sql';
import outbound from './0003_outbound.sql';
import systemIdentity from './0004_system_identity.sql';
import webhooks from './0005_webhooks.sql';
import domains from './0006_domains.sql';
import dmarcReports from './0007_dmarc_reports.sql';
import imapUids from './0008_imap_uids.sql';
import tenancy from './0009_tenancy.sql';
import eventLogUpkeep from './0010_event_log_upkeep.sql';
import consoleSessions from './0011_console.sql';
import keyConstraints from './0012_key_constraints.sql';
import loopGuard from './0013_loop_guard.sql';
import inboxLeases from './0014_inbox_leases.sql';
import auditLog from './0015_audit_log.sql';
import tlsReports from './0016_tls_reports.sql';
import outboundTls from './0017_outbound_tls.sql';
import storeScaleIndexes from './0018_store_scale_indexes.sql';
import hotPathIndexes from './0019_hot_path_indexes.sql';
import outgoingDaily from './0020_outgoing_daily.sql';
import waitingDeliveries from './0021_waiting_deliveries.sql';
import blobReferences from './0022_blob_references.sql';
import rawPrefix from './0023_raw_prefix.sql';

/** Numbered migrations, applied in order, each in its own transaction. Never edit a shipped one. */
export const migrations: { version: number; name: string; sql: string }[] = [
  { version: 1, name: 'control_plane', sql: controlPlane },
  { version: 2, name: 'inbound', sql: inbound },
  { version: 3, name: 'outbound', sql: outbound },
  { version: 4, name: 'system_identity', sql: systemIdentity },
  { version: 5, name: 'webhooks', sql: webhooks },
  { version: 6, name: 'domains', sql: domains },
  { version: 7, name: 'dmarc_reports', sql: dmarcReports },
  { version: 8, name: 'imap_uids', sql: imapUids },
  { version: 9, name: 'tenancy', sql: tenancy },
  { version: 10, name: 'event_log_upkeep', sql: eventLogUpkeep },
  { version: 11, name: 'console', sql: consoleSessions },
  { version: 12, name: 'key_constraints', sql: keyConstraints },
  { version: 13, name: 'loop_guard', sql: loopGuard },
  { version: 14, name: 'inbox_leases', sql: inboxLeases },
  { version: 15, name: 'audit_log', sql: auditLog },
  { version: 16, name: 'tls_reports', sql: tlsReports },
  { version: 17, name: 'outbound_tls', sql: outboundTls },
  { version: 18, name: 'store_scale_indexes', sql: storeScaleIndexes },
  { version: 19, name: 'hot_path_indexes', sql: hotPathIndexes },
  { version: 20, name: 'outgoing_daily', sql: outgoingDaily },
  { version: 21, name: 'waiting_deliveries', sql: waitingDeliveries },
  { version: 22, name: 'blob_references', sql: blobReferences },
  { version: 23, name: 'raw_prefix', sql: rawPrefix },
];
