import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Deps } from '../deps.js';
import type { ImapAuthenticator } from './auth.js';
import { needsSource, parseFetchItems, renderFetch, type FetchItem } from './fetch.js';
import {
  CommandFramer,
  ImapParseError,
  astring,
  parseCommand,
  type Command,
  type Frame,
  type Token,
} from './parser.js';
import { SEARCH_CHARSETS, matches, needsFields, parseSearch } from './search.js';
import { parseSequenceSet, selectBySequence, selectByUid } from './sequence.js';
import { FOLDERS, ImapStore, folderNamed, type FolderInfo, type FolderMessage } from './store.js';
import { line, list, str } from './wire.js';

export interface ImapLimits {
  /** Connections per listener; more are refused. */
  maxClients: number;
  /** Connections one client IP may hold per listener; more are refused. */
  maxClientsPerIp: number;
  /** New connections one client IP may open per minute per listener; more are refused. */
  connectRatePerIp: number;
  /** Inactivity after login before autologout (RFC 3501 §5.4: at least 30 minutes). */
  idleTimeoutMs: number;
  /** Time from connect to a successful login, TLS handshake included. */
  preAuthTimeoutMs: number;
  /** Longest command line (each line of a command with literals), CRLF excluded. */
  maxLineBytes: number;
  /** Largest literal after login (before login: 1 KiB, and only in LOGIN/AUTHENTICATE). */
  maxLiteralBytes: number;
}

export interface SessionOptions {
  allowPlainLogin: boolean;
  auth: ImapAuthenticator;
  limits: ImapLimits;
  /** Wraps the cleartext socket in TLS (STARTTLS); null on the implicit-TLS listener. */
  startTls: ((socket: Socket) => TLSSocket) | null;
}

/** Before login only LOGIN and AUTHENTICATE may carry literals, few and small (TESTPLAN §10). */
const PRE_AUTH_LITERAL_BYTES = 1024;
const PRE_AUTH_LITERALS = 2;
const MAX_LITERALS = 32;
const MAX_NESTING = 16;
const MAX_LOGIN_FAILURES = 3;
/** Messages read from the database per step of FETCH and SEARCH: memory stays flat whatever the set. */
const BATCH = 200;
/** IDLE coalesces bursts of events into one check. */
const IDLE_SYNC_DELAY_MS = 50;
/** IDLE also re-checks this often: acks and retention purges change the folder without an event. */
const IDLE_POLL_MS = 30_000;
const CLOSE_GRACE_MS = 2_000;

const COMMON_CAPABILITIES = ['LITERAL+', 'ID', 'IDLE', 'ENABLE', 'NAMESPACE', 'UNSELECT', 'SPECIAL-USE'];
/** Everything that would change a mailbox: refused, and nothing is touched (CONTRACT §8). */
const WRITES = new Set([
  'APPEND',
  'CREATE',
  'DELETE',
  'RENAME',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'EXPUNGE',
  'STORE',
  'COPY',
  'MOVE',
]);
const ANY_STATE = new Set(['CAPABILITY', 'NOOP', 'LOGOUT', 'ID']);
const NOT_AUTHENTICATED = new Set(['STARTTLS', 'LOGIN', 'AUTHENTICATE']);
const AUTHENTICATED = new Set([
  'SELECT',
  'EXAMINE',
  'CREATE',
  'DELETE',
  'RENAME',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'LIST',
  'LSUB',
  'STATUS',
  'APPEND',
  'IDLE',
  'NAMESPACE',
  'ENABLE',
]);
const SELECTED = new Set([
  'CHECK',
  'CLOSE',
  'UNSELECT',
  'EXPUNGE',
  'SEARCH',
  'FETCH',
  'STORE',
  'COPY',
  'MOVE',
  'UID',
]);

interface Selection {
  folder: FolderInfo;
  /** The client's view: sequence number n is messages[n - 1]. Changes only through reported updates. */
  messages: FolderMessage[];
  /** Highest UID reported so far; anything above it is new. */
  highestUid: number;
}

/**
 * LIST patterns (RFC 3501 §6.3.8): `*` matches anything, `%` anything but the hierarchy delimiter.
 * Matched by dynamic programming, not a regular expression, so no pattern can backtrack exponentially.
 */
function wildcardMatch(pattern: string, name: string): boolean {
  let reachable = new Array<boolean>(name.length + 1).fill(false);
  reachable[0] = true;
  for (const p of pattern) {
    const next = new Array<boolean>(name.length + 1).fill(false);
    for (let i = 0; i <= name.length; i++) {
      if (!reachable[i]) continue;
      if (p === '*' || p === '%') {
        for (let j = i; j <= name.length; j++) {
          next[j] = true;
          if (p === '%' && name[j] === '/') break;
        }
      } else if (name[i] === p) {
        next[i + 1] = true;
      }
    }
    reachable = next;
  }
  return reachable[name.length] === true;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One IMAP connection: reads commands one at a time and answers from the mailbox's folders. */
export class ImapSession {
  private socket: Socket;
  private startTls: SessionOptions['startTls'];
  private readonly framer = new CommandFramer();
  private user: { orgId: string; mailboxId: string; keyId: string } | null = null;
  private store: ImapStore | null = null;
  private selection: Selection | null = null;
  private idleTag: string | null = null;
  private saslTag: string | null = null;
  private failures = 0;
  private busy = false;
  private paused = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private idlePoll: NodeJS.Timeout | null = null;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);
  private readonly onEnd = () => this.cleanup();
  private readonly onError = (err: Error) => {
    this.deps.log.debug(
      { event: 'imap.socket_error', err: err.message, remote_ip: this.remoteIp },
      'imap socket error',
    );
    this.cleanup();
    this.socket.destroy();
  };
  private readonly onAppended = (orgId: string) => {
    if (orgId === this.user?.orgId) this.scheduleIdleSync();
  };
  private readonly onRevoked = (keyIds: ReadonlySet<string>) => {
    if (!this.user || !keyIds.has(this.user.keyId)) return;
    this.deps.log.info(
      { event: 'imap.session_ended', reason: 'key_revoked', remote_ip: this.remoteIp },
      'imap session ended: key revoked',
    );
    this.bye('Access key revoked');
  };

  constructor(
    private readonly deps: Deps,
    private readonly options: SessionOptions,
    socket: Socket,
    private secure: boolean,
    private readonly remoteIp: string,
  ) {
    this.socket = socket;
    this.startTls = options.startTls;
  }

  start(): void {
    this.attach(this.socket);
    this.timer = setTimeout(
      () => this.bye('Autologout; log in sooner'),
      this.options.limits.preAuthTimeoutMs,
    );
    void this.send(`* OK [CAPABILITY ${this.capabilities()}] LoftBox IMAP ready (read-only)`);
  }

  /** Ends the session politely (server shutdown). */
  shutdown(): void {
    this.bye('Server shutting down');
  }

  private attach(socket: Socket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onEnd);
  }

  private detach(socket: Socket): void {
    socket.off('data', this.onData);
    socket.off('error', this.onError);
    socket.off('close', this.onEnd);
  }

  private get highWater(): number {
    return this.options.limits.maxLineBytes + this.options.limits.maxLiteralBytes + 65_536;
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    if (this.user) this.armIdleTimer();
    this.framer.push(chunk);
    // While a command runs, further input waits in the kernel instead of piling up here.
    if (this.framer.buffered > this.highWater && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    void this.pump();
  }

  /** Runs commands strictly in order; the next is only read once the previous has answered. */
  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (;;) {
        if (this.closed) return;
        const frame = this.framer.next({ maxLineBytes: this.options.limits.maxLineBytes });
        if (!frame) break;
        await this.handleFrame(frame);
      }
    } catch (err) {
      this.deps.log.error({ event: 'imap.session_failed', err }, 'imap session failed');
      this.bye('Internal error');
    } finally {
      this.busy = false;
    }
    if (this.paused && this.framer.buffered <= this.highWater && !this.closed) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private async handleFrame(frame: Frame): Promise<void> {
    switch (frame.kind) {
      case 'line-too-long':
        return this.hostile('line_too_long', 'Command line too long');
      case 'literal':
        return this.literal(frame);
      case 'command':
        return this.command(frame.data);
    }
  }

  private async literal(frame: Extract<Frame, { kind: 'literal' }>): Promise<void> {
    if (this.idleTag || this.saslTag) return this.hostile('literal_in_continuation', 'Unexpected literal');
    if (!this.user) {
      const allowed =
        (frame.command === 'LOGIN' || frame.command === 'AUTHENTICATE') &&
        frame.size <= PRE_AUTH_LITERAL_BYTES &&
        frame.count <= PRE_AUTH_LITERALS;
      if (!allowed) return this.hostile('pre_auth_literal', 'Literal refused before authentication');
    } else {
      const tag = /^[\x21-\x7e]{1,256}$/.test(frame.tag) ? frame.tag : '*';
      if (frame.command === 'APPEND' && frame.sync) {
        // Refused before the client sends the message: it never got `+` (RFC 3501 §7.5).
        this.framer.skipCommand();
        return this.send(`${tag} NO [CANNOT] This mailbox is read-only`);
      }
      if (frame.size > this.options.limits.maxLiteralBytes || frame.count > MAX_LITERALS) {
        // A non-synchronizing literal is already on its way; RFC 7888 §4 lets the server close then.
        if (!frame.sync) return this.hostile('literal_too_big', '[TOOBIG] Literal too large');
        this.framer.skipCommand();
        return this.send(`${tag} BAD [TOOBIG] Literal too large`);
      }
    }
    if (frame.sync) await this.send('+ Ready for literal data');
    this.framer.acceptLiteral();
  }

  private async command(data: Buffer): Promise<void> {
    if (this.idleTag) return this.endIdle(data);
    if (this.saslTag) return this.saslResponse(data);
    let command: Command;
    try {
      command = parseCommand(data, { maxDepth: MAX_NESTING });
    } catch (err) {
      if (!(err instanceof ImapParseError)) throw err;
      await this.send(`${err.tag ?? '*'} BAD ${err.message}`);
      if (err.fatal) this.hostile('pathological_command', err.message);
      return;
    }
    try {
      await this.dispatch(command);
    } catch (err) {
      if (err instanceof ImapParseError) return this.send(`${command.tag} BAD ${err.message}`);
      this.deps.log.error(
        { event: 'imap.command_failed', command: command.name, err },
        'imap command failed',
      );
      await this.send(`${command.tag} NO [SERVERBUG] Internal error`);
    }
  }

  private async dispatch({ tag, name, args }: Command): Promise<void> {
    const known =
      ANY_STATE.has(name) || NOT_AUTHENTICATED.has(name) || AUTHENTICATED.has(name) || SELECTED.has(name);
    if (!known) return this.send(`${tag} BAD Unknown command`);
    if (NOT_AUTHENTICATED.has(name) && this.user) return this.send(`${tag} BAD Already authenticated`);
    if ((AUTHENTICATED.has(name) || SELECTED.has(name)) && !this.user)
      return this.send(`${tag} BAD Log in first`);
    if (SELECTED.has(name) && !this.selection) return this.send(`${tag} BAD No mailbox selected`);
    if (WRITES.has(name)) return this.send(`${tag} NO [CANNOT] This mailbox is read-only`);
    switch (name) {
      case 'CAPABILITY':
        return this.send(`* CAPABILITY ${this.capabilities()}`, `${tag} OK CAPABILITY completed`);
      case 'NOOP':
      case 'CHECK':
        await this.sync();
        return this.send(`${tag} OK ${name} completed`);
      case 'LOGOUT':
        await this.send('* BYE LoftBox logging out', `${tag} OK LOGOUT completed`);
        return this.close();
      case 'ID':
        return this.id(tag, args);
      case 'STARTTLS':
        return this.starttls(tag, args);
      case 'LOGIN':
        return this.login(tag, args);
      case 'AUTHENTICATE':
        return this.authenticate(tag, args);
      case 'SELECT':
      case 'EXAMINE':
        return this.select(tag, name, args);
      case 'LIST':
      case 'LSUB':
        return this.list(tag, name, args);
      case 'STATUS':
        return this.status(tag, args);
      case 'NAMESPACE':
        return this.send('* NAMESPACE (("" "/")) NIL NIL', `${tag} OK NAMESPACE completed`);
      case 'ENABLE':
        // RFC 5161: unknown or unsupported extensions are ignored; none of ours need enabling.
        if (args.length === 0) return this.send(`${tag} BAD Missing capability`);
        return this.send('* ENABLED', `${tag} OK ENABLE completed`);
      case 'IDLE':
        return this.idle(tag);
      case 'CLOSE':
      case 'UNSELECT':
        // The mailbox is read-only, so CLOSE expunges nothing (RFC 3501 §6.4.2).
        this.selection = null;
        return this.send(`${tag} OK ${name} completed`);
      case 'FETCH':
        return this.fetch(tag, args, false);
      case 'SEARCH':
        return this.search(tag, args, false);
      case 'UID':
        return this.uid(tag, args);
    }
  }

  private loginAllowed(): boolean {
    return this.secure || this.options.allowPlainLogin;
  }

  /** RFC 3501 §6.1.1, with LOGINDISABLED and no AUTH= before TLS on the cleartext port (§6.2.3). */
  private capabilities(): string {
    const caps = ['IMAP4rev1'];
    if (!this.user) {
      if (!this.secure && this.startTls) caps.push('STARTTLS');
      caps.push(...(this.loginAllowed() ? ['AUTH=PLAIN', 'SASL-IR'] : ['LOGINDISABLED']));
    }
    return [...caps, ...COMMON_CAPABILITIES].join(' ');
  }

  private async id(tag: string, args: Token[]): Promise<void> {
    const [arg] = args;
    // RFC 2971 §3.3: NIL or at most 30 field/value pairs.
    const valid =
      args.length === 1 &&
      ((arg?.type === 'atom' && arg.value.toUpperCase() === 'NIL') ||
        (arg?.type === 'list' && arg.items.length % 2 === 0 && arg.items.length <= 60));
    if (!valid) return this.send(`${tag} BAD Invalid ID arguments`);
    return this.send('* ID ("name" "LoftBox" "vendor" "LoftBox")', `${tag} OK ID completed`);
  }

  private async starttls(tag: string, args: Token[]): Promise<void> {
    const upgrade = this.startTls;
    if (args.length > 0) return this.send(`${tag} BAD STARTTLS takes no arguments`);
    if (this.secure || !upgrade) return this.send(`${tag} BAD TLS is already active or not offered here`);
    this.startTls = null;
    this.socket.write(line(`${tag} OK Begin TLS negotiation now`));
    // STARTTLS injection (RFC 3207 §6, RFC 2595 §3.1; TESTPLAN S5): whatever arrived after the command in
    // cleartext is dropped, never executed after the handshake. The wrap happens in this same tick, so
    // no further cleartext byte can reach the framer.
    this.framer.discard();
    this.detach(this.socket);
    const secured = upgrade(this.socket);
    this.socket = secured;
    this.attach(secured);
    secured.once('secure', () => {
      this.secure = true;
    });
  }

  private async login(tag: string, args: Token[]): Promise<void> {
    if (!this.loginAllowed()) return this.send(`${tag} NO [PRIVACYREQUIRED] Run STARTTLS first`);
    const username = astring(args[0]);
    const password = astring(args[1]);
    if (args.length !== 2 || username === null || password === null) {
      return this.send(`${tag} BAD LOGIN needs a username and a password`);
    }
    return this.checkCredentials(tag, username, password);
  }

  /** AUTHENTICATE PLAIN (RFC 4616), with an initial response (SASL-IR, RFC 4959) or after `+`. */
  private async authenticate(tag: string, args: Token[]): Promise<void> {
    const mechanism = astring(args[0])?.toUpperCase();
    if (!mechanism || args.length > 2) return this.send(`${tag} BAD AUTHENTICATE needs a mechanism`);
    if (mechanism !== 'PLAIN') return this.send(`${tag} NO Unsupported authentication mechanism`);
    if (!this.loginAllowed()) return this.send(`${tag} NO [PRIVACYREQUIRED] Run STARTTLS first`);
    const initial = astring(args[1]);
    if (initial !== null) return this.saslPlain(tag, initial === '=' ? '' : initial);
    this.saslTag = tag;
    return this.send('+ ');
  }

  private async saslResponse(data: Buffer): Promise<void> {
    const tag = this.saslTag as string;
    this.saslTag = null;
    const text = data.toString('latin1');
    // RFC 3501 §6.2.2: "*" cancels the exchange.
    if (text === '*') return this.send(`${tag} BAD Authentication cancelled`);
    return this.saslPlain(tag, text);
  }

  private async saslPlain(tag: string, base64: string): Promise<void> {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) {
      return this.send(`${tag} BAD Invalid base64`);
    }
    const parts = Buffer.from(base64, 'base64').toString('utf8').split('\0');
    if (parts.length !== 3) return this.send(`${tag} BAD Invalid PLAIN response`);
    const [authzid = '', authcid = '', password = ''] = parts;
    if (authzid && authzid.toLowerCase() !== authcid.toLowerCase()) {
      return this.send(`${tag} NO [AUTHORIZATIONFAILED] Cannot act as another user`);
    }
    return this.checkCredentials(tag, authcid, password);
  }

  private async checkCredentials(tag: string, username: string, password: string): Promise<void> {
    const result = this.options.auth.login(username, password, this.remoteIp);
    if (result.ok) {
      this.user = { orgId: result.orgId, mailboxId: result.mailboxId, keyId: result.keyId };
      this.deps.revocations.on('revoked', this.onRevoked);
      this.store = new ImapStore(this.deps.db, this.deps.clock, {
        orgId: result.orgId,
        mailboxId: result.mailboxId,
      });
      this.armIdleTimer();
      this.deps.log.info(
        { event: 'imap.login', mailbox_id: result.mailboxId, remote_ip: this.remoteIp },
        'imap login',
      );
      return this.send(`${tag} OK [CAPABILITY ${this.capabilities()}] Logged in`);
    }
    this.failures += 1;
    this.deps.log.info(
      { event: 'imap.login_failed', reason: result.reason, remote_ip: this.remoteIp },
      'imap login failed',
    );
    if (result.reason === 'locked') {
      await this.send(`${tag} NO [AUTHENTICATIONFAILED] Too many failed logins; try again later`);
      return this.bye('Too many failed logins');
    }
    await this.send(`${tag} NO [AUTHENTICATIONFAILED] Invalid credentials`);
    if (this.failures >= MAX_LOGIN_FAILURES) return this.bye('Too many failed logins');
  }

  private async select(tag: string, name: string, args: Token[]): Promise<void> {
    const mailbox = astring(args[0]);
    if (args.length !== 1 || mailbox === null) return this.send(`${tag} BAD ${name} needs a mailbox name`);
    // A SELECT deselects first, so a failed one leaves nothing selected (RFC 3501 §6.3.1).
    this.selection = null;
    const folder = folderNamed(mailbox);
    if (!folder) return this.send(`${tag} NO [NONEXISTENT] No such mailbox`);
    const state = (this.store as ImapStore).state(folder);
    const messages = state.messages;
    this.selection = { folder, messages, highestUid: messages[messages.length - 1]?.uid ?? 0 };
    const firstUnseen = messages.findIndex((m) => !m.seen);
    return this.send(
      '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)',
      '* OK [PERMANENTFLAGS ()] Read-only mailbox',
      `* ${messages.length} EXISTS`,
      '* 0 RECENT',
      ...(firstUnseen >= 0 ? [`* OK [UNSEEN ${firstUnseen + 1}] First unseen`] : []),
      `* OK [UIDVALIDITY ${state.uidValidity}] UIDs valid`,
      `* OK [UIDNEXT ${state.uidNext}] Predicted next UID`,
      `${tag} OK [READ-ONLY] ${name} completed`,
    );
  }

  private async list(tag: string, name: string, args: Token[]): Promise<void> {
    const reference = astring(args[0]);
    const pattern = astring(args[1]);
    if (args.length !== 2 || reference === null || pattern === null) {
      return this.send(`${tag} BAD ${name} needs a reference and a pattern`);
    }
    if (name === 'LIST' && pattern === '') {
      // The hierarchy delimiter query (RFC 3501 §6.3.8).
      return this.send('* LIST (\\Noselect) "/" ""', `${tag} OK LIST completed`);
    }
    const full = reference + pattern;
    const hits = FOLDERS.filter((folder) =>
      folder.name === 'INBOX'
        ? wildcardMatch(full.slice(0, 5).toUpperCase() + full.slice(5), 'INBOX')
        : wildcardMatch(full, folder.name),
    );
    return this.send(
      ...hits.map((folder) => `* ${name} (${folder.attributes.join(' ')}) "/" ${str(folder.name)}`),
      `${tag} OK ${name} completed`,
    );
  }

  private async status(tag: string, args: Token[]): Promise<void> {
    const mailbox = astring(args[0]);
    const items = args[1];
    if (args.length !== 2 || mailbox === null || items?.type !== 'list' || items.items.length === 0) {
      return this.send(`${tag} BAD STATUS needs a mailbox and a list of items`);
    }
    const folder = folderNamed(mailbox);
    if (!folder) return this.send(`${tag} NO [NONEXISTENT] No such mailbox`);
    const counts = (this.store as ImapStore).status(folder);
    const values: Record<string, number> = {
      MESSAGES: counts.messages,
      RECENT: 0,
      UIDNEXT: counts.uidNext,
      UIDVALIDITY: counts.uidValidity,
      UNSEEN: counts.unseen,
    };
    const out: string[] = [];
    for (const item of items.items) {
      const key = item.type === 'atom' ? item.value.toUpperCase() : '';
      if (!(key in values)) return this.send(`${tag} BAD Unknown STATUS item`);
      out.push(`${key} ${values[key]}`);
    }
    return this.send(`* STATUS ${str(folder.name)} ${list(out)}`, `${tag} OK STATUS completed`);
  }

  private async uid(tag: string, args: Token[]): Promise<void> {
    const sub = astring(args[0])?.toUpperCase();
    if (sub === 'FETCH') return this.fetch(tag, args.slice(1), true);
    if (sub === 'SEARCH') return this.search(tag, args.slice(1), true);
    if (sub && WRITES.has(sub)) return this.send(`${tag} NO [CANNOT] This mailbox is read-only`);
    return this.send(`${tag} BAD Unknown UID command`);
  }

  /** Positions the set names in the client's view, or null for an invalid sequence number. */
  private positions(setToken: Token | undefined, tag: string, byUid: boolean): number[] | null {
    const text = setToken?.type === 'atom' ? setToken.value : null;
    if (text === null) throw new ImapParseError('Missing sequence set', tag);
    const set = parseSequenceSet(text, tag);
    const messages = (this.selection as Selection).messages;
    return byUid
      ? selectByUid(
          set,
          messages.map((m) => m.uid),
        )
      : selectBySequence(set, messages.length);
  }

  /**
   * FETCH streams: messages are read BATCH at a time and written one by one, waiting for the socket to
   * drain, so `1:*` over a large folder never holds more than one message body in memory.
   */
  private async fetch(tag: string, args: Token[], byUid: boolean): Promise<void> {
    if (args.length !== 2) return this.send(`${tag} BAD FETCH needs a sequence set and items`);
    let items = parseFetchItems(args[1], tag);
    const positions = this.positions(args[0], tag, byUid);
    if (positions === null) return this.send(`${tag} BAD Invalid sequence number`);
    // UID FETCH always reports UIDs (RFC 3501 §6.4.8).
    if (byUid && !items.some((item) => item.kind === 'uid')) items = [{ kind: 'uid' } as FetchItem, ...items];
    const { folder, messages } = this.selection as Selection;
    const store = this.store as ImapStore;
    const withSource = needsSource(items);
    for (let start = 0; start < positions.length; start += BATCH) {
      const batch = positions.slice(start, start + BATCH);
      const metas = store.meta(
        folder,
        batch.map((p) => (messages[p] as FolderMessage).uid),
      );
      for (const position of batch) {
        const uid = (messages[position] as FolderMessage).uid;
        const meta = metas.get(uid);
        // Purged since the client last synced: its EXPUNGE comes with the next NOOP or IDLE.
        if (!meta) continue;
        const raw = withSource ? (store.raw(folder, uid) ?? Buffer.alloc(0)) : null;
        await this.write(renderFetch({ ...meta, seq: position + 1, raw }, items));
        if (this.closed) return;
      }
    }
    return this.send(`${tag} OK FETCH completed`);
  }

  private async search(tag: string, args: Token[], byUid: boolean): Promise<void> {
    const { charset, key } = parseSearch(args, tag);
    if (charset !== null && !SEARCH_CHARSETS.includes(charset.toUpperCase())) {
      return this.send(`${tag} NO [BADCHARSET (${SEARCH_CHARSETS.join(' ')})] Unsupported charset`);
    }
    const { folder, messages } = this.selection as Selection;
    const store = this.store as ImapStore;
    const wantFields = needsFields(key);
    const lastUid = messages[messages.length - 1]?.uid ?? 0;
    const hits: number[] = [];
    for (let start = 0; start < messages.length; start += BATCH) {
      const uids = messages.slice(start, start + BATCH).map((m) => m.uid);
      const metas = store.meta(folder, uids);
      const fields = wantFields ? store.searchFields(folder, uids) : null;
      uids.forEach((uid, i) => {
        const meta = metas.get(uid);
        if (!meta) return;
        let raw: Buffer | null | undefined;
        const candidate = {
          seq: start + i + 1,
          meta,
          fields: fields?.get(uid) ?? null,
          raw: () => (raw === undefined ? (raw = store.raw(folder, uid)) : raw),
          lastSeq: messages.length,
          lastUid,
        };
        if (matches(key, candidate)) hits.push(byUid ? uid : start + i + 1);
      });
      // A long search yields between batches so other connections are served meanwhile.
      if (start + BATCH < messages.length) await delay(0);
      if (this.closed) return;
    }
    return this.send(`* SEARCH${hits.map((h) => ` ${h}`).join('')}`, `${tag} OK SEARCH completed`);
  }

  /**
   * Brings the client's view up to date (NOOP, CHECK, IDLE): purged messages as EXPUNGE, highest
   * sequence number first so each number is valid when sent (RFC 3501 §7.4.1); flag changes as FETCH;
   * new mail as EXISTS. Never called during FETCH or SEARCH, where EXPUNGE is not allowed.
   */
  private async sync(): Promise<void> {
    const selection = this.selection;
    if (!selection || !this.store) return;
    const fresh = new Map(this.store.state(selection.folder).messages.map((m) => [m.uid, m]));
    const out: string[] = [];
    for (let i = selection.messages.length - 1; i >= 0; i--) {
      if (!fresh.has((selection.messages[i] as FolderMessage).uid)) out.push(`* ${i + 1} EXPUNGE`);
    }
    const kept = selection.messages.filter((m) => fresh.has(m.uid));
    kept.forEach((m, i) => {
      const seen = (fresh.get(m.uid) as FolderMessage).seen;
      if (seen !== m.seen) out.push(`* ${i + 1} FETCH (UID ${m.uid} FLAGS (${seen ? '\\Seen' : ''}))`);
    });
    const added = [...fresh.values()].filter((m) => m.uid > selection.highestUid);
    selection.messages = [...kept.map((m) => fresh.get(m.uid) as FolderMessage), ...added];
    selection.highestUid = Math.max(selection.highestUid, ...added.map((m) => m.uid));
    if (added.length > 0) out.push(`* ${selection.messages.length} EXISTS`);
    if (out.length > 0) await this.send(...out);
  }

  /** IDLE (RFC 2177): updates are pushed as the event log grows, until the client sends DONE. */
  private async idle(tag: string): Promise<void> {
    this.idleTag = tag;
    await this.send('+ idling');
    this.deps.bus.on('appended', this.onAppended);
    this.idlePoll = setInterval(() => this.scheduleIdleSync(), IDLE_POLL_MS);
    await this.sync();
  }

  private scheduleIdleSync(): void {
    if (!this.idleTag || this.syncTimer) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = null;
      if (this.idleTag && !this.closed) void this.sync();
    }, IDLE_SYNC_DELAY_MS);
  }

  private stopIdle(): void {
    this.idleTag = null;
    this.deps.bus.off('appended', this.onAppended);
    if (this.syncTimer) clearTimeout(this.syncTimer);
    if (this.idlePoll) clearInterval(this.idlePoll);
    this.syncTimer = null;
    this.idlePoll = null;
  }

  private async endIdle(data: Buffer): Promise<void> {
    const tag = this.idleTag as string;
    this.stopIdle();
    if (data.toString('latin1').toUpperCase() !== 'DONE') return this.send(`${tag} BAD Expected DONE`);
    return this.send(`${tag} OK IDLE terminated`);
  }

  private armIdleTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(
      () => this.bye('Autologout; idle for too long'),
      this.options.limits.idleTimeoutMs,
    );
  }

  private hostile(reason: string, text: string): void {
    this.deps.log.warn(
      { event: 'imap.hostile_input', reason, remote_ip: this.remoteIp },
      'imap connection closed',
    );
    return this.bye(text);
  }

  /**
   * Says BYE and closes without waiting for the peer to read: a client that never reads must not keep
   * its connection past a timeout by leaving our writes undrained.
   */
  private bye(text: string): void {
    if (this.closed) return;
    void this.send(`* BYE ${text}`);
    this.close();
  }

  /** Writes response lines (binary strings) in one write. */
  private send(...lines: string[]): Promise<void> {
    return this.write([Buffer.concat(lines.map(line))]);
  }

  /** Writes chunks, resolving once the socket can take more (backpressure for streamed FETCH). */
  private write(chunks: Buffer[]): Promise<void> {
    if (this.closed) return Promise.resolve();
    let ready = true;
    for (const chunk of chunks) ready = this.socket.write(chunk);
    if (ready) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  private close(): void {
    if (this.closed) return;
    this.cleanup();
    this.socket.end();
    // A peer that never reads would keep end() pending forever.
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private cleanup(): void {
    this.closed = true;
    this.stopIdle();
    this.deps.revocations.off('revoked', this.onRevoked);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
