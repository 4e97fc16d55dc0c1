import {
  errorText,
  isWithinZone,
  normalizeName,
  planCloudflare,
  zoneNameCandidates,
  type ApplyOptions,
  type CloudflareRecord,
  type DesiredRecord,
  type RecordOutcome,
} from './plan.js';

const DEFAULT_BASE_URL = 'https://api.cloudflare.com/client/v4';

/** Cloudflare's "automatic" TTL (300 s for DNS-only records). */
const AUTO_TTL = 1;

/**
 * Loaded only when a real Cloudflare run starts: neither dry-run nor Route 53 needs the SDK. Only the two
 * resources used are pulled in, through the SDK's tree-shakable client: the full client adds about 2.8 MB
 * to the bundled CLI, these about an eighth of that.
 */
async function connect(token: string, baseURL: string) {
  const [{ createClient }, { BaseZones }, { BaseRecords }] = await Promise.all([
    import('cloudflare/tree-shakable'),
    import('cloudflare/resources/zones/zones'),
    import('cloudflare/resources/dns/records'),
  ]);
  // Every credential is passed (null for the unused ones) so the SDK reads none from process.env.
  return createClient({
    apiToken: token,
    apiKey: null,
    apiEmail: null,
    userServiceKey: null,
    baseURL,
    resources: [BaseZones, BaseRecords],
  });
}

type Cloudflare = Awaited<ReturnType<typeof connect>>;

interface Zone {
  id: string;
  name: string;
}

/** Finds the zone for a host, asking for each candidate name at most once per run. */
function zoneFinder(client: Cloudflare, zoneId: string | undefined): (host: string) => Promise<Zone> {
  const byName = new Map<string, Promise<Zone[]>>();
  let given: Promise<Zone> | undefined;
  const named = (name: string) => {
    let found = byName.get(name);
    if (!found) {
      found = client.zones
        .list({ name, per_page: 50 })
        .then((page) => page.result.filter((z) => normalizeName(z.name) === name));
      byName.set(name, found);
    }
    return found;
  };
  return async (host) => {
    if (zoneId) {
      given ??= client.zones.get({ zone_id: zoneId });
      const zone = await given;
      // Cloudflare appends the zone name to a name outside it, which would create a stray record.
      if (!isWithinZone(host, zone.name)) {
        throw new Error(`${host} is not inside zone ${zone.id} (${zone.name})`);
      }
      return zone;
    }
    for (const name of zoneNameCandidates(host)) {
      const zones = await named(name);
      if (zones.length > 1) {
        // A token that spans accounts can see one name twice; only the registrar knows which is live.
        throw new Error(
          `several zones are named ${name} (${zones.map((z) => z.id).join(', ')}); pass --zone-id`,
        );
      }
      if (zones[0]) return zones[0];
    }
    throw new Error(`no zone this token can see contains ${host}; pass --zone-id`);
  };
}

async function readExisting(
  client: Cloudflare,
  zone: Zone,
  record: DesiredRecord,
): Promise<CloudflareRecord[]> {
  const host = normalizeName(record.host);
  const found: CloudflareRecord[] = [];
  for await (const r of client.dns.records.list({
    zone_id: zone.id,
    type: record.type,
    name: { exact: host },
    per_page: 100,
  })) {
    // Filtered again here so a server that ignores a filter cannot make us skip or replace the wrong record.
    if (r.type !== record.type || normalizeName(r.name) !== host) continue;
    found.push({ id: r.id, content: r.content ?? '', priority: r.type === 'MX' ? r.priority : undefined });
  }
  return found;
}

async function applyOne(
  client: Cloudflare,
  zoneFor: (host: string) => Promise<Zone>,
  record: DesiredRecord,
  overwrite: boolean,
): Promise<RecordOutcome> {
  let zone: Zone;
  try {
    zone = await zoneFor(normalizeName(record.host));
  } catch (err) {
    return { record, result: 'error', detail: `could not find the zone: ${errorText(err)}` };
  }
  const inZone = `zone ${zone.name} (${zone.id})`;
  let existing: CloudflareRecord[];
  try {
    existing = await readExisting(client, zone, record);
  } catch (err) {
    // Fail closed: without the current records we cannot tell a duplicate or a CNAME conflict apart.
    return {
      record,
      result: 'error',
      detail: `could not read the existing ${record.type} records in ${inZone}, so nothing was written: ${errorText(err)}`,
    };
  }
  const plan = planCloudflare(record, existing, overwrite);
  if (plan.action === 'skip' || plan.action === 'conflict') {
    return {
      record,
      result: plan.action === 'skip' ? 'skipped' : 'conflict',
      detail: `${plan.detail} (${inZone})`,
    };
  }
  const name = normalizeName(record.host);
  const ttl = AUTO_TTL;
  const fields =
    record.type === 'MX'
      ? { type: 'MX' as const, name, content: plan.content, priority: plan.priority, ttl }
      : record.type === 'CNAME'
        ? // DNS-only: a proxied CNAME would answer with Cloudflare's addresses, not the return-path host's.
          { type: 'CNAME' as const, name, content: plan.content, ttl, proxied: false }
        : record.type === 'A' || record.type === 'AAAA'
          ? // DNS-only for the same reason: mta-sts.<domain> must reach this server itself.
            { type: record.type, name, content: plan.content, ttl, proxied: false }
          : { type: 'TXT' as const, name, content: plan.content, ttl };
  try {
    if (plan.action === 'update') await client.dns.records.edit(plan.id, { zone_id: zone.id, ...fields });
    else await client.dns.records.create({ zone_id: zone.id, ...fields });
    return { record, result: 'applied', detail: `${plan.detail} (${inZone})` };
  } catch (err) {
    return {
      record,
      result: 'error',
      detail: `Cloudflare rejected the change in ${inZone}: ${errorText(err)}`,
    };
  }
}

/** Applies each record in order; one record's failure never stops the others. */
export async function applyCloudflare(
  records: DesiredRecord[],
  options: ApplyOptions,
): Promise<RecordOutcome[]> {
  const token = options.env.CLOUDFLARE_API_TOKEN;
  if (!token) {
    const detail = 'CLOUDFLARE_API_TOKEN is not set (an API token with Zone:Read and DNS:Edit on the zone)';
    return records.map((record) => ({ record, result: 'error', detail }));
  }
  const client = await connect(token, options.endpoints?.cloudflare ?? DEFAULT_BASE_URL);
  const zoneFor = zoneFinder(client, options.zoneId);
  const outcomes: RecordOutcome[] = [];
  for (const record of records) outcomes.push(await applyOne(client, zoneFor, record, options.overwrite));
  return outcomes;
}
