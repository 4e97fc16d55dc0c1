import type { Command } from 'commander';
import type { Message } from '../api-types.js';
import { action, examples, withCommonOptions, type CliDeps, type RunState } from '../context.js';
import { safeLine, type Column, type Page } from '../output.js';
import { pagingOptions, printPage, shortTime } from './shared.js';

const heldColumns: Column<Message>[] = [
  { header: 'ID', value: (m) => m.public_id, max: 40 },
  { header: 'CREATED', value: (m) => shortTime(m.created_at) },
  { header: 'FROM', value: (m) => m.from, max: 40 },
  { header: 'TO', value: (m) => m.to.join(', '), max: 40 },
  { header: 'SUBJECT', value: (m) => m.subject, max: 50 },
];

export function approvalsCommands(program: Command, deps: CliDeps, state: RunState): void {
  const approvals = program.command('approvals').description('Outgoing messages held by an approval policy');

  const list = pagingOptions(
    approvals
      .command('list')
      .description('Messages waiting for a decision (every mailbox of the organization unless --mailbox-id)')
      .option('--mailbox-id <id>', 'only this mailbox'),
  );
  withCommonOptions(list);
  examples(list, ['loftbox approvals list', 'loftbox approvals list --json']);
  action(deps, state, list, async (ctx) => {
    const o = list.opts<{ mailboxId?: string; limit?: number; cursor?: string }>();
    const page = await ctx.authed().get<Page<Message>>('/v1/messages', {
      status: 'pending_approval',
      direction: 'outgoing',
      mailbox_id: o.mailboxId,
      limit: o.limit,
      cursor: o.cursor,
    });
    printPage(ctx, page, heldColumns, 'Nothing is waiting for approval.');
  });

  for (const verb of ['approve', 'reject'] as const) {
    const cmd = approvals
      .command(verb)
      .description(
        verb === 'approve'
          ? 'Approve a held message; it is queued for delivery'
          : 'Reject a held message; final',
      )
      .argument('<id>', 'message id')
      .option('--reason <text>', 'recorded with the decision');
    withCommonOptions(cmd);
    examples(cmd, [
      `loftbox approvals ${verb} msg_123`,
      `loftbox approvals ${verb} msg_123 --reason "checked with legal" --json`,
    ]);
    action(deps, state, cmd, async (ctx, id) => {
      const reason = cmd.opts<{ reason?: string }>().reason;
      const message = await ctx
        .authed()
        .post<Message>(
          `/v1/messages/${encodeURIComponent(id)}/${verb}`,
          reason === undefined ? {} : { reason },
        );
      ctx.out.data(message);
      ctx.out.text(`${message.public_id} ${message.status}: "${safeLine(message.subject)}"`);
    });
  }
}
