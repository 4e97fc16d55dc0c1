import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeMx, type FakeMx } from '../harness/fake-mx.js';
import { startTestServer, type Json, type TestServer } from '../harness/server.js';
import { code, RawSmtp } from '../harness/smtp.js';

/**
 * CONTRACT §12 loop and storm guard: inbound automated mail is marked, agent mail carries
 * Auto-Submitted and X-LoftBox-Hops, and real reply loops (agent ↔ agent, agent ↔ auto-responder)
 * stop at the limits with a held `loop_suspected` message the operator can see and decide on.
 */

type Box = Awaited<ReturnType<TestServer['mailbox']>>;

let server: TestServer;
let responderMx: FakeMx;

beforeAll(async () => {
  responderMx = await startFakeMx({ host: '127.0.0.2' });
  server = await startTestServer({
    delivery: 'direct',
    outboundPort: responderMx.port,
    mailboxSendRate: 1000,
    signupLimitPerIp: 1000,
  });
  server.dns.set('responder.test', { MX: [{ exchange: 'mx.responder.test', priority: 10 }] });
  server.dns.set('mx.responder.test', { A: ['127.0.0.2'] });
});
afterAll(async () => {
  await server.close();
  await responderMx.close();
});

type Mail = Parameters<ReturnType<typeof nodemailer.createTransport>['sendMail']>[0];

/** Real SMTP to the server's MX, then wait for the inbound pipeline. */
async function deliver(mail: Mail): Promise<void> {
  await nodemailer
    .createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
    .sendMail(mail);
  await server.running.inbound.idle();
}

/** Runs the delivery queue (local mailboxes through the inbound pipeline) until nothing is due. */
async function drain(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await server.running.inbound.idle();
    if ((await server.running.queue.tick()) === 0) break;
  }
  await server.running.inbound.idle();
}

async function inbox(box: Box): Promise<Json[]> {
  const res = await server.api('GET', `/v1/mailboxes/${box.mailboxId}/inbox?limit=100`, { key: box.key });
  expect(res.status).toBe(200);
  return res.body.data as Json[];
}

async function events(box: Box, type: string): Promise<Json[]> {
  const res = await server.api('GET', `/v1/events?limit=100&event_type=${type}`, { key: box.key });
  return res.body.data as Json[];
}

/**
 * The test agent: polls its inbox, answers every message with in_reply_to, acks. Returns the
 * statuses of the replies it sent this round.
 */
async function agentRound(box: Box): Promise<Json[]> {
  const replies: Json[] = [];
  const pending = await inbox(box);
  for (const message of pending) {
    const sent = await server.api('POST', '/v1/messages', {
      key: box.key,
      body: {
        mailbox_id: box.mailboxId,
        to: [message.from],
        subject: `Re: ${String(message.subject).replace(/^(Re: )+/, '')}`,
        body_text: 'Thanks, noted. Anything else?',
        in_reply_to: message.id,
      },
    });
    expect(sent.status).toBe(201);
    replies.push(sent.body);
  }
  if (pending.length > 0) {
    const ack = await server.api('POST', `/v1/mailboxes/${box.mailboxId}/inbox/ack`, {
      key: box.key,
      body: { message_ids: pending.map((m) => m.id) },
    });
    expect(ack.body.acked).toBe(pending.length);
  }
  return replies;
}

/** Two agents answering each other until a round sends nothing; bounded so a runaway loop fails. */
async function pingPong(a: Box, b: Box): Promise<{ sent: Json[]; held: Json[] }> {
  const first = await server.api('POST', '/v1/messages', {
    key: a.key,
    body: { mailbox_id: a.mailboxId, to: [b.address], subject: 'Status?', body_text: 'How are things?' },
  });
  expect(first.body.status).toBe('queued');
  const sent: Json[] = [first.body];
  const held: Json[] = [];
  for (let round = 0; round < 40; round++) {
    await drain();
    const replies = [...(await agentRound(b)), ...(await agentRound(a))];
    if (replies.length === 0) return { sent, held };
    for (const reply of replies) (reply.status === 'pending_approval' ? held : sent).push(reply);
  }
  throw new Error('the loop never stopped');
}

const rawOf = async (box: Box, id: string): Promise<string> =>
  (await server.api('GET', `/v1/messages/${id}/raw`, { key: box.key })).text;

describe('inbound classification of automated mail', () => {
  let box: Box;
  beforeAll(async () => {
    box = await server.mailbox('classify');
  });

  const latest = async (subject: string): Promise<Json> => {
    const res = await server.api('GET', `/v1/messages?direction=incoming&limit=100`, { key: box.key });
    const found = (res.body.data as Json[]).find((m) => m.subject === subject);
    expect(found, subject).toBeDefined();
    return found;
  };

  it('marks each automated signal, and leaves person-written mail alone', async () => {
    const cases: [string, Record<string, string>, string[]][] = [
      ['person', {}, []],
      ['auto-submitted no', { 'Auto-Submitted': 'no' }, []],
      ['auto-replied', { 'Auto-Submitted': 'auto-replied; owner-email="a@b.test"' }, ['auto_submitted']],
      ['bulk', { Precedence: 'Bulk' }, ['precedence']],
      ['first-class', { Precedence: 'first-class' }, []],
      ['list', { 'List-Id': 'News <news.example.test>' }, ['list_id']],
      ['unsubscribe', { 'List-Unsubscribe': '<mailto:leave@example.test>' }, ['list_unsubscribe']],
      ['exchange', { 'X-Auto-Response-Suppress': 'DR, OOF, AutoReply' }, ['auto_response_suppress']],
      ['exchange none', { 'X-Auto-Response-Suppress': 'None' }, []],
      ['hops', { 'X-LoftBox-Hops': '7' }, []],
    ];
    for (const [subject, headers] of cases) {
      await deliver({ from: 'someone@sender.test', to: box.address, subject, text: 'hello', headers });
    }
    for (const [subject, , reasons] of cases) {
      const message = await latest(subject);
      expect({ subject, automated: message.automated, reasons: message.automation_reasons }).toEqual({
        subject,
        automated: reasons.length > 0,
        reasons,
      });
    }
    expect((await latest('hops')).hops).toBe(7);
    expect((await latest('person')).hops).toBeNull();

    // The event carries the same Message.
    const inbound = (await events(box, 'message.inbound')).find(
      (e) => e.data.message.subject === 'auto-replied',
    );
    expect(inbound.data.message).toMatchObject({ automated: true, automation_reasons: ['auto_submitted'] });
  });

  it('marks mail with an empty envelope sender (RFC 5321 §4.5.5)', async () => {
    const smtp = await RawSmtp.open(server.smtpPort);
    try {
      expect(code(await smtp.command('EHLO bounce.test'))).toBe(250);
      expect(code(await smtp.command('MAIL FROM:<>'))).toBe(250);
      expect(code(await smtp.command(`RCPT TO:<${box.address}>`))).toBe(250);
      expect(code(await smtp.command('DATA'))).toBe(354);
      const reply = await smtp.command(
        'From: MAILER-DAEMON@bounce.test\r\nTo: ' +
          box.address +
          '\r\nSubject: null sender\r\nMessage-ID: <null1@bounce.test>\r\n\r\nDelivery report\r\n.',
      );
      expect(code(reply)).toBe(250);
    } finally {
      smtp.close();
    }
    await server.running.inbound.idle();
    const message = await latest('null sender');
    expect(message.automated).toBe(true);
    expect(message.automation_reasons).toEqual(['null_sender']);
  });

  it('marks our own Message-ID coming back to the mailbox that sent it', async () => {
    const sent = await server.api('POST', '/v1/messages', {
      key: box.key,
      body: { mailbox_id: box.mailboxId, to: ['list@responder.test'], subject: 'Out', body_text: 'x' },
    });
    expect(sent.status).toBe(201);
    await deliver({
      from: 'list@responder.test',
      to: box.address,
      subject: 'reflected',
      text: 'x',
      messageId: sent.body.message_id_header,
    });
    const message = await latest('reflected');
    expect(message.automation_reasons).toEqual(['own_message']);

    // Replying to it is replying to our own mail: held, not sent.
    const reply = await server.api('POST', '/v1/messages', {
      key: box.key,
      body: {
        mailbox_id: box.mailboxId,
        to: ['list@responder.test'],
        subject: 'Re: reflected',
        body_text: 'y',
        in_reply_to: message.id,
      },
    });
    expect(reply.body.status).toBe('pending_approval');
    expect(reply.body.approval).toMatchObject({ policy_id: null, reason: 'loop_suspected' });
    expect(reply.body.approval.detail).toContain('own mail');
  });
});

describe('agent mail headers', () => {
  it('carries Auto-Submitted: auto-generated and a hop count one above the message answered', async () => {
    const box = await server.mailbox('headers');
    const fresh = await server.api('POST', '/v1/messages', {
      key: box.key,
      body: { mailbox_id: box.mailboxId, to: ['x@responder.test'], subject: 'Hi', body_text: 'a' },
    });
    const raw = await rawOf(box, fresh.body.id);
    expect(raw).toMatch(/^Auto-Submitted: auto-generated\r$/m);
    expect(raw).toMatch(/^X-LoftBox-Hops: 1\r$/im);
    expect(fresh.body.hops).toBe(1);

    await deliver({
      from: 'peer@responder.test',
      to: box.address,
      subject: 'From another agent',
      text: 'b',
      headers: { 'X-LoftBox-Hops': '4' },
    });
    const [incoming] = await inbox(box);
    const reply = await server.api('POST', '/v1/messages', {
      key: box.key,
      body: {
        mailbox_id: box.mailboxId,
        to: ['peer@responder.test'],
        subject: 'Re',
        body_text: 'c',
        in_reply_to: incoming.message_id_header,
      },
    });
    expect(reply.body.hops).toBe(5);
    expect(await rawOf(box, reply.body.id)).toMatch(/^X-LoftBox-Hops: 5\r$/im);

    for (const name of ['Auto-Submitted', 'x-loftbox-hops']) {
      const forged = await server.api('POST', '/v1/messages', {
        key: box.key,
        body: {
          mailbox_id: box.mailboxId,
          to: ['x@responder.test'],
          subject: 'Hi',
          body_text: 'a',
          headers: { [name]: 'no' },
        },
      });
      expect(forged.status).toBe(422);
    }
  });
});

describe('real loops stop within the limits', () => {
  it('two agents answering each other: the second reply to an automated sender is held', async () => {
    const a = await server.mailbox('ping');
    const b = await server.mailbox('pong');
    const { sent, held } = await pingPong(a, b);
    // A → B, B → A, A → B; B's second reply to A's automated mail is held.
    expect(sent).toHaveLength(3);
    expect(held).toHaveLength(1);
    const hold = held[0];
    expect(hold.mailbox_id).toBe(b.mailboxId);
    expect(hold.approval).toMatchObject({ policy_id: null, reason: 'loop_suspected' });
    expect(hold.approval.detail).toContain(a.address);

    const loopEvents = await events(b, 'message.loop_suspected');
    expect(loopEvents).toHaveLength(1);
    expect(loopEvents[0].message_id).toBe(hold.id);
    expect(loopEvents[0].data).toMatchObject({
      reason: 'loop_suspected',
      checks: [{ check: 'automated_sender' }],
    });
    const asyncapi = await server.api('GET', '/v1/ws/asyncapi.json');
    expect(asyncapi.text).toContain('message.loop_suspected');
    // It looks exactly like a policy hold: the pending_approval event and the approval queue.
    const pendingEvents = await events(b, 'message.pending_approval');
    expect(pendingEvents.map((e) => e.message_id)).toContain(hold.id);
    expect(pendingEvents.find((e) => e.message_id === hold.id).data.reason).toBe('loop_suspected');
    const queue = await server.api('GET', '/v1/messages?status=pending_approval', { key: b.key });
    expect(queue.body.data.map((m: Json) => m.id)).toEqual([hold.id]);

    // The operator approves: it goes out like any approved message.
    const approved = await server.api('POST', `/v1/messages/${hold.id}/approve`, {
      key: b.key,
      body: { reason: 'checked, fine' },
    });
    expect(approved.status).toBe(200);
    expect(approved.body.approval).toMatchObject({
      reason: 'loop_suspected',
      decision_reason: 'checked, fine',
    });
    await drain();
    expect((await server.api('GET', `/v1/messages/${hold.id}`, { key: b.key })).body.status).toBe(
      'delivered',
    );
  });

  it('per-org limits: with replies to automated senders allowed, the hop limit stops the loop', async () => {
    const a = await server.mailbox('hop-a');
    const b = await server.mailbox('hop-b');
    for (const box of [a, b]) {
      const patched = await server.api('PATCH', '/v1/organization', {
        key: box.key,
        body: { loop_guard: { automated_replies_per_sender: 1000, max_hops: 5 } },
      });
      expect(patched.status).toBe(200);
      expect(patched.body.loop_guard).toMatchObject({ automated_replies_per_sender: 1000, max_hops: 5 });
      expect(patched.body.loop_guard_overrides).toEqual({ automated_replies_per_sender: 1000, max_hops: 5 });
    }
    const { sent, held } = await pingPong(a, b);
    expect(sent.map((m) => m.hops)).toEqual([1, 2, 3, 4, 5]);
    expect(held).toHaveLength(1);
    expect(held[0].hops).toBe(6);
    const [event] = await events(b, 'message.loop_suspected');
    expect(event.data.checks).toEqual([expect.objectContaining({ check: 'hop_limit' })]);
  });

  it('per-org limits: too many messages in one thread within the window holds the next', async () => {
    const box = await server.mailbox('thread-rate');
    const res = await server.api('PATCH', '/v1/organization', {
      key: box.key,
      body: { loop_guard: { thread_max_messages: 3 } },
    });
    expect(res.body.loop_guard.thread_max_messages).toBe(3);
    await deliver({ from: 'human@responder.test', to: box.address, subject: 'Question', text: 'q' });
    const [question] = await inbox(box);
    expect(question.automated).toBe(false);
    const statuses: string[] = [];
    for (let i = 0; i < 3; i++) {
      const reply = await server.api('POST', '/v1/messages', {
        key: box.key,
        body: {
          mailbox_id: box.mailboxId,
          to: ['human@responder.test'],
          subject: 'Re: Question',
          body_text: `answer ${i}`,
          in_reply_to: question.id,
        },
      });
      statuses.push(reply.body.status);
    }
    expect(statuses).toEqual(['queued', 'queued', 'pending_approval']);
    const [event] = await events(box, 'message.loop_suspected');
    expect(event.data.checks).toEqual([expect.objectContaining({ check: 'thread_rate' })]);

    // null returns the limit to the server setting.
    const reset = await server.api('PATCH', '/v1/organization', {
      key: box.key,
      body: { loop_guard: { thread_max_messages: null } },
    });
    expect(reset.body.loop_guard_overrides).toEqual({});
    expect(reset.body.loop_guard.thread_max_messages).toBe(server.deps.config.loopThreadMaxMessages);
    const bad = await server.api('PATCH', '/v1/organization', {
      key: box.key,
      body: { loop_guard: { max_hops: 0, unknown: 1 } },
    });
    expect(bad.status).toBe(422);
  });

  it('concurrent replies to one automated sender: exactly the allowed number goes out', async () => {
    const box = await server.mailbox('concurrent');
    await deliver({
      from: 'robot@responder.test',
      to: box.address,
      subject: 'Ticket opened',
      text: 'We got your request.',
      headers: { 'Auto-Submitted': 'auto-replied' },
    });
    const [notice] = await inbox(box);
    const replies = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        server.api('POST', '/v1/messages', {
          key: box.key,
          body: {
            mailbox_id: box.mailboxId,
            to: ['robot@responder.test'],
            subject: 'Re: Ticket opened',
            body_text: `reply ${i}`,
            in_reply_to: notice.id,
          },
        }),
      ),
    );
    const statuses = replies.map((r) => r.body.status as string).sort();
    expect(statuses).toEqual([
      'pending_approval',
      'pending_approval',
      'pending_approval',
      'pending_approval',
      'pending_approval',
      'queued',
    ]);
  });

  it('an agent answering an auto-responder (a real SMTP worker) stops after one reply', async () => {
    const agent = await server.mailbox('customer-agent');
    // Mail queued by earlier tests goes out first, so the responder sees only this exchange.
    await drain();
    responderMx.received.length = 0;
    let answered = 0;
    /** The auto-responder: answers every message it receives with an RFC 3834 auto-reply. */
    const autoRespond = async () => {
      for (const mail of responderMx.received.slice(answered)) {
        answered += 1;
        const original = mail.raw.toString('latin1');
        const messageId = /^Message-ID:\s*(<[^>]+>)/im.exec(original)?.[1];
        await deliver({
          from: 'vacation@responder.test',
          to: agent.address,
          subject: 'Out of office',
          text: 'I am away until Monday.',
          inReplyTo: messageId,
          references: messageId,
          headers: { 'Auto-Submitted': 'auto-replied' },
        });
      }
    };
    const first = await server.api('POST', '/v1/messages', {
      key: agent.key,
      body: {
        mailbox_id: agent.mailboxId,
        to: ['vacation@responder.test'],
        subject: 'Your order',
        body_text: 'When can we ship?',
      },
    });
    expect(first.body.status).toBe('queued');
    const sent: Json[] = [first.body];
    const held: Json[] = [];
    for (let round = 0; round < 20; round++) {
      await drain();
      await autoRespond();
      const replies = await agentRound(agent);
      if (replies.length === 0) break;
      for (const reply of replies) (reply.status === 'pending_approval' ? held : sent).push(reply);
    }
    expect(responderMx.received.map((m) => m.rcptTo)).toEqual([
      ['vacation@responder.test'],
      ['vacation@responder.test'],
    ]);
    expect(sent).toHaveLength(2);
    expect(held).toHaveLength(1);
    expect(held[0].approval).toMatchObject({ reason: 'loop_suspected' });
    expect(held[0].approval.detail).toContain('vacation@responder.test');
    const incoming = await server.api('GET', `/v1/messages?direction=incoming`, { key: agent.key });
    for (const m of incoming.body.data as Json[]) {
      expect(m).toMatchObject({ automated: true, automation_reasons: ['auto_submitted'] });
    }
  });
});
