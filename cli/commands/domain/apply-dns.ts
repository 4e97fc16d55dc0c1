import type { Command } from 'commander';
import { Option } from 'commander';
import type { DnsRecord, DomainStatus } from '../../api-types.js';
import { action, examples, withCommonOptions, type CliDeps, type RunState } from '../../context.js';
import { applyDns, type DesiredRecord, type RecordOutcome } from '../../dns-providers/index.js';
import { CliError, shellQuote } from '../../errors.js';
import { safeLine, type Column } from '../../output.js';

const outcomeColumns: Column<RecordOutcome>[] = [
  { header: 'RESULT', value: (o) => o.result },
  { header: 'TYPE', value: (o) => o.record.type },
  { header: 'HOST', value: (o) => o.record.host, max: 60 },
  { header: 'DETAIL', value: (o) => o.detail, max: 200 },
];

/**
 * `loftbox domain apply-dns <id> --provider route53|cloudflare` (CONTRACT §9): writes exactly the
 * records the server says are missing, with the caller's own cloud credentials from the environment,
 * which never leave this machine. Existing TXT/MX values are kept; a differing CNAME is a conflict.
 */
export function applyDnsCommand(domain: Command, deps: CliDeps, state: RunState): void {
  const apply = domain
    .command('apply-dns')
    .description('Publish the missing records at Route 53 or Cloudflare with your own credentials')
    .argument('<id>', 'domain id (dom_… or UUID)')
    .addOption(
      new Option('--provider <provider>', 'DNS provider')
        .choices(['route53', 'cloudflare'])
        .makeOptionMandatory(),
    )
    .option('--dry-run', 'show what would change; needs no credentials and writes nothing')
    .option('--overwrite', 'replace a conflicting CNAME (or DMARC/SPF/DKIM) value instead of stopping')
    .option(
      '--zone-id <zone>',
      'the hosted zone (Route 53) or zone (Cloudflare) to use instead of inferring it',
    );
  withCommonOptions(apply);
  examples(apply, [
    'loftbox domain apply-dns dom_123 --provider route53 --dry-run',
    'CLOUDFLARE_API_TOKEN=… loftbox domain apply-dns dom_123 --provider cloudflare --json',
  ]);
  action(deps, state, apply, async (ctx, id) => {
    const options = apply.opts<{
      provider: 'route53' | 'cloudflare';
      dryRun?: boolean;
      overwrite?: boolean;
      zoneId?: string;
    }>();
    const client = ctx.authed();
    const base = `/v1/domains/${encodeURIComponent(id)}`;
    const status = await client.get<DomainStatus>(`${base}/status`);
    let records: DnsRecord[] = status.next_actions;
    if (!Array.isArray(records)) {
      const dns = await client.get<{ records: DnsRecord[] }>(`${base}/dns`);
      records = dns.records.filter((r) => r.status !== 'valid');
    }
    const outcomes = await applyDns({
      provider: options.provider,
      dryRun: options.dryRun ?? false,
      overwrite: options.overwrite ?? false,
      ...(options.zoneId ? { zoneId: options.zoneId } : {}),
      env: deps.env as NodeJS.ProcessEnv,
      records: records.map((r): DesiredRecord => ({
        purpose: r.purpose,
        type: r.type as DesiredRecord['type'],
        host: r.host,
        value: r.value,
        ...(r.priority != null ? { priority: r.priority } : {}),
      })),
    });
    ctx.out.data({
      domain: status.domain,
      provider: options.provider,
      dry_run: options.dryRun ?? false,
      results: outcomes,
    });
    if (outcomes.length === 0)
      ctx.out.text(`${safeLine(status.domain)}: nothing to publish; every record is in place.`);
    else ctx.out.table(outcomes, outcomeColumns);

    const rerun = ['loftbox', 'domain', 'apply-dns', id, '--provider', options.provider]
      .map(shellQuote)
      .join(' ');
    if (outcomes.some((o) => o.result === 'error')) {
      throw new CliError(
        'dns_apply_failed',
        'Some records could not be published; nothing was written for them.',
        {
          next: [rerun],
        },
      );
    }
    if (outcomes.some((o) => o.result === 'conflict')) {
      throw new CliError(
        'dns_conflict',
        'Existing records differ from what LoftBox needs; they were left as they are.',
        {
          next: [`${rerun} --overwrite`],
          hint: 'Check the conflicting records, then re-run with --overwrite to replace them.',
        },
      );
    }
    if (!options.dryRun && outcomes.length > 0)
      ctx.out.info(`Next: ${ctx.next(['loftbox', 'domain', 'verify', id])}`);
  });
}
