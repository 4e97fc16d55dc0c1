/**
 * `loftbox domain apply-dns` as a library (CONTRACT §9): puts the records a domain still needs into the
 * caller's own Route 53 or Cloudflare account, with the caller's own credentials, never sent to LoftBox.
 * The provider modules are imported only for a real run, so dry-run and the rest of the CLI load no SDK.
 */
import { checkRecord, describeDryRun, type ApplyOptions, type RecordOutcome } from './plan.js';

export type { ApplyOptions, DesiredRecord, RecordOutcome, RecordResult } from './plan.js';

/**
 * One outcome per record, in input order. Provider failures (credentials, zone lookup, reads, writes) are
 * reported per record as 'error', never thrown, so the caller can always print every line.
 */
export async function applyDns(options: ApplyOptions): Promise<RecordOutcome[]> {
  const problems = options.records.map(checkRecord);
  if (options.dryRun) {
    return options.records.map((record, i) => {
      const problem = problems[i];
      return problem
        ? { record, result: 'error', detail: problem }
        : { record, result: 'dry-run', detail: describeDryRun(record, options) };
    });
  }
  const valid = options.records.filter((_, i) => problems[i] === undefined);
  let applied: RecordOutcome[] = [];
  if (valid.length > 0) {
    switch (options.provider) {
      case 'route53':
        applied = await (await import('./route53.js')).applyRoute53(valid, options);
        break;
      case 'cloudflare':
        applied = await (await import('./cloudflare.js')).applyCloudflare(valid, options);
        break;
      default:
        throw new Error(`unknown DNS provider ${String(options.provider satisfies never)}`);
    }
  }
  let next = 0;
  return options.records.map((record, i) => {
    const problem = problems[i];
    return problem ? { record, result: 'error', detail: problem } : applied[next++]!;
  });
}
