import {
  ChangeResourceRecordSetsCommand,
  GetHostedZoneCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  paginateListHostedZones,
  type HostedZone,
} from '@aws-sdk/client-route-53';
import {
  absoluteName,
  errorText,
  isWithinZone,
  mostSpecificZones,
  normalizeName,
  planRoute53,
  type ApplyOptions,
  type DesiredRecord,
  type RecordOutcome,
  type Route53RecordSet,
  type ZoneInfo,
} from './plan.js';

/** Ids come back as `/hostedzone/Z123`; people (and --zone-id) use the bare form. */
function bareZoneId(id: string): string {
  return id.replace(/^\/hostedzone\//, '');
}

function zoneInfo(zone: HostedZone): ZoneInfo {
  return { id: bareZoneId(zone.Id ?? ''), name: zone.Name ?? '', private: zone.Config?.PrivateZone === true };
}

/**
 * Keys from `env` when they are there (what the SDK's chain would find first, and the only way to honour an
 * env other than process.env); otherwise the SDK's default chain: profile, SSO, web identity, instance role.
 */
function clientFor(options: ApplyOptions): Route53Client {
  // The SDK warns on stderr, once per process, that its releases from 2027 need Node 22. That is news for
  // whoever upgrades LoftBox's pinned SDK, not for someone running the CLI; AWS's own switch turns it off.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { env } = options;
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  return new Route53Client({
    // Route 53 is global and signs in us-east-1; a region from env only matters for other partitions.
    region: env.AWS_REGION || 'us-east-1',
    ...(env.AWS_PROFILE ? { profile: env.AWS_PROFILE } : {}),
    ...(accessKeyId && secretAccessKey
      ? { credentials: { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN || undefined } }
      : {}),
    ...(options.endpoints?.route53 ? { endpoint: options.endpoints.route53 } : {}),
  });
}

/** Finds the hosted zone for a host, listing the account's zones at most once per run. */
function zoneFinder(client: Route53Client, zoneId: string | undefined): (host: string) => Promise<ZoneInfo> {
  let zones: Promise<ZoneInfo[]> | undefined;
  const load = async (): Promise<ZoneInfo[]> => {
    if (zoneId) {
      const out = await client.send(new GetHostedZoneCommand({ Id: zoneId }));
      return out.HostedZone ? [zoneInfo(out.HostedZone)] : [];
    }
    const all: ZoneInfo[] = [];
    for await (const page of paginateListHostedZones({ client }, {})) {
      all.push(...(page.HostedZones ?? []).map(zoneInfo));
    }
    return all;
  };
  return async (host) => {
    zones ??= load();
    const all = await zones;
    if (zoneId) {
      // An explicit zone is taken as given (even a private one), but never for a name outside it.
      const zone = all[0];
      if (!zone) throw new Error(`hosted zone ${zoneId} was not found`);
      if (!isWithinZone(host, zone.name)) {
        throw new Error(`${host} is not inside hosted zone ${zone.id} (${normalizeName(zone.name)})`);
      }
      return zone;
    }
    const best = mostSpecificZones(host, all);
    if (best.length === 0) {
      throw new Error(`no public hosted zone in this account contains ${host}; pass --zone-id`);
    }
    if (best.length > 1) {
      const ids = best.map((z) => z.id).join(', ');
      throw new Error(
        `several public hosted zones are named ${normalizeName(best[0]!.name)} (${ids}); pass --zone-id`,
      );
    }
    return best[0]!;
  };
}

/** The record sets at exactly this name and type (the listing starts there but runs on past it). */
async function readExisting(client: Route53Client, zone: ZoneInfo, record: DesiredRecord) {
  const out = await client.send(
    new ListResourceRecordSetsCommand({
      HostedZoneId: zone.id,
      StartRecordName: absoluteName(record.host),
      StartRecordType: record.type,
    }),
  );
  return (out.ResourceRecordSets ?? [])
    .filter((set) => normalizeName(set.Name ?? '') === normalizeName(record.host) && set.Type === record.type)
    .map((set): Route53RecordSet => ({
      ttl: set.TTL,
      values: (set.ResourceRecords ?? []).map((r) => r.Value ?? ''),
      setIdentifier: set.SetIdentifier,
      alias: set.AliasTarget != null,
    }));
}

async function applyOne(
  client: Route53Client,
  zoneFor: (host: string) => Promise<ZoneInfo>,
  record: DesiredRecord,
  overwrite: boolean,
): Promise<RecordOutcome> {
  let zone: ZoneInfo;
  try {
    zone = await zoneFor(record.host);
  } catch (err) {
    return { record, result: 'error', detail: `could not choose a hosted zone: ${errorText(err)}` };
  }
  const inZone = `hosted zone ${normalizeName(zone.name)} (${zone.id})`;
  let existing: Route53RecordSet[];
  try {
    existing = await readExisting(client, zone, record);
  } catch (err) {
    // Fail closed: an UPSERT without the current values would delete whatever else lives at this name.
    return {
      record,
      result: 'error',
      detail: `could not read the existing ${record.type} records in ${inZone}, so nothing was written: ${errorText(err)}`,
    };
  }
  const plan = planRoute53(record, existing, overwrite);
  if (plan.action !== 'upsert') {
    const result = plan.action === 'skip' ? 'skipped' : plan.action;
    return { record, result, detail: `${plan.detail} (${inZone})` };
  }
  try {
    const out = await client.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zone.id,
        ChangeBatch: {
          Comment: `loftbox apply-dns: ${record.purpose}`,
          Changes: [
            {
              Action: 'UPSERT',
              ResourceRecordSet: {
                Name: absoluteName(record.host),
                Type: record.type,
                TTL: plan.ttl,
                ResourceRecords: plan.values.map((Value) => ({ Value })),
              },
            },
          ],
        },
      }),
    );
    const change = out.ChangeInfo ? `; change ${out.ChangeInfo.Id ?? ''} ${out.ChangeInfo.Status ?? ''}` : '';
    return { record, result: 'applied', detail: `${plan.detail}, TTL ${plan.ttl} (${inZone}${change})` };
  } catch (err) {
    return {
      record,
      result: 'error',
      detail: `Route 53 rejected the change in ${inZone}: ${errorText(err)}`,
    };
  }
}

/** Applies each record in order; one record's failure never stops the others. */
export async function applyRoute53(
  records: DesiredRecord[],
  options: ApplyOptions,
): Promise<RecordOutcome[]> {
  const client = clientFor(options);
  try {
    const zoneFor = zoneFinder(client, options.zoneId);
    const outcomes: RecordOutcome[] = [];
    for (const record of records) outcomes.push(await applyOne(client, zoneFor, record, options.overwrite));
    return outcomes;
  } finally {
    client.destroy();
  }
}
