import type { AuthContext } from '../../accounts/api-keys.js';
import type { MailboxRow } from '../../db/repos/mailboxes.js';
import type { MessageRow } from '../../db/repos/messages.js';
import type { ThreadRow } from '../../db/repos/threads.js';
import type { Deps } from '../../deps.js';
import { notFound } from '../../lib/errors.js';
import { constraintsOf, constraintViolated, mailboxAllowed } from '../../policy/key-constraints.js';

/*
 * What a mailbox-bound key (CONTRACT §12) may see over REST. Anything of a mailbox outside the key's
 * answers 404 like another org's: the key must not even learn that it exists.
 */

export function loadMailboxFor(deps: Deps, auth: AuthContext, id: string): MailboxRow {
  const mailbox = deps.repos.mailboxes.get(auth.org.id, id);
  if (!mailbox || !mailboxAllowed(constraintsOf(auth.key), mailbox.id)) throw notFound('mailbox');
  return mailbox;
}

export function loadMessageFor(deps: Deps, auth: AuthContext, id: string): MessageRow {
  const message = deps.repos.messages.get(auth.org.id, id);
  if (!message || !mailboxAllowed(constraintsOf(auth.key), message.mailbox_id)) throw notFound('message');
  return message;
}

export function loadThreadFor(deps: Deps, auth: AuthContext, id: string): ThreadRow {
  const thread = deps.repos.threads.get(auth.org.id, id);
  if (!thread || !mailboxAllowed(constraintsOf(auth.key), thread.mailbox_id)) throw notFound('thread');
  return thread;
}

/**
 * The mailbox a list is narrowed to: the one asked for, else the key's only mailbox. A key bound
 * to several mailboxes must name one, since an org-wide list would show the others.
 */
export function listedMailboxId(
  deps: Deps,
  auth: AuthContext,
  requested: string | undefined,
): string | undefined {
  if (requested) return loadMailboxFor(deps, auth, requested).id;
  const bound = constraintsOf(auth.key).mailbox_ids;
  if (bound === null) return undefined;
  if (bound.length === 1) return bound[0];
  throw constraintViolated('mailbox_ids', 'This key is bound to several mailboxes: pass mailbox_id.');
}
