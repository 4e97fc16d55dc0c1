import type { Deps } from '../deps.js';
import { receivedHeader } from '../lib/raw-mail.js';
import { currentRequestId } from '../lib/request-context.js';
import type { Accepted, Acceptance } from '../seams.js';
import { routeRecipient } from '../domains/routing.js';
import { classifyReply } from './classify.js';
import type { Transport } from './transports.js';

/**
 * `local`: a recipient on a domain we host gets the message straight through the inbound pipeline,
 * with the same routing decision (mailbox exists, inbound rules, restricted mode) the MX would make.
 */
export function localTransport(
  deps: Deps,
  accept: Acceptance,
  onAccepted: (message: Accepted) => void,
): Transport {
  return {
    async deliver(job) {
      const decision = routeRecipient(deps, job.recipient, job.envelopeFrom);
      if (!decision.ok) {
        return {
          ...classifyReply({ stage: 'rcpt', code: decision.reply.code, message: decision.reply.message }),
          response: `${decision.reply.code} ${decision.reply.message}`,
          host: deps.mxHost,
        };
      }
      const id = deps.ids.uuid();
      const trace = receivedHeader({
        helo: deps.mxHost,
        remoteIp: '127.0.0.1',
        host: deps.mxHost,
        id,
        secure: true,
        recipient: job.recipient,
        date: deps.clock.now(),
      });
      const accepted: Accepted = {
        id,
        raw: Buffer.concat([Buffer.from(trace, 'latin1'), job.raw]),
        mailFrom: job.envelopeFrom,
        recipients: [
          { address: job.recipient, mailbox_id: 'mailbox' in decision ? decision.mailbox.id : null },
        ],
        remoteIp: '127.0.0.1',
        helo: deps.mxHost,
        secure: true,
        requestId: currentRequestId(),
      };
      await accept.accept(accepted);
      onAccepted(accepted);
      return {
        outcome: 'delivered',
        category: 'ok',
        status: '2.0.0',
        retryAfterSeconds: null,
        response: `250 2.0.0 Ok: queued as ${id}`,
        host: deps.mxHost,
      };
    },
  };
}
