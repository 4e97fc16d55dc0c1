/**
 * Advisory prompt-injection risk for inbound mail. Every point of the score comes from a named rule that
 * fired on a quoted piece of the message, so a human (or the agent) can see why a message was flagged; the
 * score never blocks delivery by itself.
 *
 * Input is attacker-controlled: each field is capped, every regex is free of nested quantifiers and
 * unbounded gaps, the HTML is read by one linear scan, and nothing here throws on odd input.
 */

export type InjectionCategory =
  | 'instruction_override'
  | 'role_hijack'
  | 'tool_injection'
  | 'data_exfiltration'
  | 'hidden_text'
  | 'encoding_evasion'
  | 'secret_request'
  | 'mail_manipulation'
  | 'config_change'
  | 'urgency'
  | 'authority';

export const INJECTION_CATEGORIES: readonly InjectionCategory[] = [
  'instruction_override',
  'role_hijack',
  'tool_injection',
  'data_exfiltration',
  'hidden_text',
  'encoding_evasion',
  'secret_request',
  'mail_manipulation',
  'config_change',
  'urgency',
  'authority',
];

export interface InjectionSignal {
  category: InjectionCategory;
  rule: string;
  weight: number;
  location: 'subject' | 'text' | 'html' | 'attachment_name';
  evidence: string;
}

export interface InjectionRisk {
  score: number;
  categories: InjectionCategory[];
  signals: InjectionSignal[];
}

type Location = InjectionSignal['location'];

/**
 * `weak`: a request ordinary mail makes too ("forward this to billing@…", "please delete this email");
 * it counts only beside another request. `framing`: urgency or claimed authority, which is harmless on its
 * own; it counts only beside a request that counts.
 */
type RuleRole = 'weak' | 'framing';

interface RuleDef {
  id: string;
  category: InjectionCategory;
  weight: number;
  role?: RuleRole;
}

interface ContentRule extends RuleDef {
  pattern: RegExp;
  /** Skip matches that a negation earlier in the sentence turns into advice ("never share your password"). */
  negatable?: true;
  /**
   * A request to the reader: skipped when the sentence is the writer's own commitment ("I'll generate a
   * new API key for you") or a negation ("you don't need to send the password").
   */
  request?: true;
  /** Skip matches whose sentence also matches this (a confidentiality footer asking to delete misdirected mail). */
  unless?: RegExp;
  /**
   * Matches, cheaply, at the start of every match of `pattern` (its leading words, same flags): a text
   * without it is not scanned with `pattern`, whose leading lookbehind makes the engine try it at every
   * position, and a text with it only from its first match on.
   */
  hint?: RegExp;
  /** Lowercase words a match always holds one of each (see `needs`). */
  words?: readonly ReadonlySet<string>[];
  /** A string every match contains (see `containing`). */
  literal?: string;
}

const FIELD_CAP = 256 * 1024;
const ATTACHMENT_NAME_CAP = 1024;
const EVIDENCE_MAX = 120;
const LOCATIONS: readonly Location[] = ['subject', 'text', 'html', 'attachment_name'];

const rule = (
  id: string,
  category: InjectionCategory,
  weight: number,
  pattern: RegExp,
  negatable?: true,
): ContentRule => ({ id, category, weight, pattern, ...(negatable ? { negatable } : {}) });

const requestRule = (
  id: string,
  category: InjectionCategory,
  weight: number,
  pattern: RegExp,
  extra: { role?: RuleRole; unless?: RegExp; hint?: RegExp } = {},
): ContentRule => ({ id, category, weight, pattern, request: true, ...extra });

const framingRule = (
  id: string,
  category: InjectionCategory,
  weight: number,
  pattern: RegExp,
): ContentRule => ({
  id,
  category,
  weight,
  pattern,
  role: 'framing',
});

/**
 * Marks the words a match of the rule always holds one of, each as a whole ASCII word (the pattern has
 * `\b` or a space on both sides of it): text with none of them is not scanned with the pattern. Only for
 * patterns without the `u` flag, whose `\b` and `/i` see ASCII letters alone.
 */
const needs = (words: readonly string[], content: ContentRule): ContentRule => ({
  ...content,
  words: [...(content.words ?? []), new Set(words)],
});

/** Marks a string every match of the rule contains, in the same case. */
const containing = (literal: string, content: ContentRule): ContentRule => ({ ...content, literal });

/* Pieces of the request rules. A secret is named with its kind ("admin API key", "webhook secret"): a bare
 * "key" is far too common in business mail ("the key points"). */
const CREATE_VERB = String.raw`\b(?:create|generate|issue|mint|provision|make)\s+(?:(?:me|us|him|her|them)\s+)?(?:(?:a|an|the|one|another)\s+)?`;
const CREATE_OBJECT = String.raw`(?:(?:new|fresh|additional|second|temporary|separate|admin|administrator|master|root|owner|full[\s-]access|unrestricted|privileged|service|loftbox)\s+){0,3}(?:api[\s_-]?keys?|access\s+keys?|admin\s+keys?|(?:access|auth(?:entication)?|bearer|api)\s+tokens?|credentials|app\s+passwords?)`;
const SECRET = String.raw`(?:(?:new|current|existing|admin|master|root|full[\s-]access|service|loftbox|mailbox|account|login|webhook|signing|api|access)\s+){0,3}(?:api[\s_-]?keys?|access\s+keys?|admin\s+keys?|secret\s+keys?|signing\s+(?:keys?|secrets?)|private\s+keys?|ssh\s+keys?|(?:access|auth(?:entication)?|bearer|api|session|refresh)\s+tokens?|passwords?|passphrases?|passcodes?|credentials|login\s+details|secrets?|verification\s+codes?|(?:2fa|mfa|otp|one[\s-]time)\s+codes?|recovery\s+codes?|config(?:uration)?\s+files?|config\.json|\.env\b(?:\s+file)?|environment\s+variables|env\s+vars)(?![\w-])`;
const REPLY_WITH = String.raw`(?:reply|respond)(?:\s+to\s+(?:this|my|the)\s+(?:e-?mail|message))?\s+with`;
/** Confidentiality footers ask a misdirected reader to delete the mail. */
const DISCLAIMER_RE =
  /\b(?:intended\s+recipient|in\s+error|by\s+mistake|wrong\s+(?:person|recipient|address))\b/i;

/** Words one of which every match of the create-a-secret rules holds: the secret, then the verb. */
const MINTED_SECRET_WORDS = [
  'key',
  'keys',
  'api_key',
  'api_keys',
  'apikey',
  'apikeys',
  'token',
  'tokens',
  'credentials',
  'password',
  'passwords',
] as const;
const CREATE_SECRET_WORDS = ['create', 'generate', 'issue', 'mint', 'provision', 'make'] as const;
/** Words one of which every `SECRET` holds: the minted kinds, and the ones only asked for. */
const NAMED_SECRET_WORDS = [
  ...MINTED_SECRET_WORDS,
  'passphrase',
  'passphrases',
  'passcode',
  'passcodes',
  'details',
  'secret',
  'secrets',
  'code',
  'codes',
  'file',
  'files',
  'json',
  'env',
  'variables',
  'vars',
] as const;

/*
 * Content rules run on normalised text (NFKC, invisible characters removed) and on the de-obfuscated
 * variants of it. They target phrasing aimed at a model rather than at a person: possessives such as
 * "my previous email" or "the invoice", negations ("never share your password") and ordinary business
 * verbs ("run the report") are deliberately left out of the patterns.
 */
const CONTENT_RULES: readonly ContentRule[] = [
  needs(
    [
      'instruction',
      'instructions',
      'rules',
      'directions',
      'directives',
      'guidelines',
      'guardrails',
      'prompt',
      'prompts',
      'commands',
      'programming',
      'restrictions',
      'constraints',
      'policies',
      'context',
    ],
    needs(
      ['ignore', 'disregard', 'forget', 'override', 'bypass', 'discard', 'skip'],
      rule(
        'ignore_previous_instructions',
        'instruction_override',
        0.8,
        /\b(?:ignore|disregard|forget|override|bypass|discard|skip)\s+(?:(?:all|any|every)\s+(?:of\s+)?(?:(?:the|your|these|those|its)\s+)?(?:(?:previous|prior|above|earlier|preceding|former|original|initial|existing|old|system|safety)\s+)?|(?:(?:the|your|these|those|its)\s+)?(?:previous|prior|above|earlier|preceding|former|original|initial|existing|system|safety)\s+|(?:your|its)\s+)(?:instructions?|rules|directions|directives|guidelines|guardrails|prompts?|commands|programming|restrictions|constraints|policies|context)\b/gi,
      ),
    ),
  ),
  needs(
    ['ignore', 'disregard', 'forget'],
    rule(
      'ignore_previous_instructions',
      'instruction_override',
      0.8,
      /\b(?:ignore|disregard|forget)\s+(?:everything|anything|all)\s+(?:(?:above|before|previously\s+(?:said|stated|given))\b|you\s+(?:were|have\s+been)\s+(?:told|given|instructed)\b)|\b(?:ignore|disregard|forget)\s+(?:all\s+of\s+)?the\s+above\s+and\s+(?:instead|now|just|only)\b/gi,
    ),
  ),
  needs(
    ['follow', 'following', 'obey', 'obeying', 'comply', 'complying'],
    rule(
      'ignore_previous_instructions',
      'instruction_override',
      0.8,
      /\b(?:do\s+not|don['’]t|stop|no\s+longer)\s+(?:follow(?:ing)?|obey(?:ing)?|comply(?:ing)?\s+with)\s+(?:your\s+(?:(?:previous|prior|original|system|initial|safety)\s+)?|(?:(?:the|any|all)\s+)?(?:previous|prior|original|system|initial|safety)\s+)(?:instructions|rules|guidelines|programming|prompt)\b/gi,
    ),
  ),
  needs(
    ['instruction', 'instructions', 'directive'],
    rule(
      'new_instructions',
      'instruction_override',
      0.5,
      /\b(?:new|real|actual|true|secret|hidden)\s+(?:system\s+)?instructions?\s*:|\byour\s+(?:new|real|actual|true)\s+(?:instructions\s+are|directive\s+is)\b/gi,
    ),
  ),
  needs(
    ['now'],
    rule(
      'from_now_on',
      'instruction_override',
      0.6,
      /\bfrom\s+now\s+on\b[,:]?\s+(?:you\s+(?:will|must|shall|should|are\s+to|have\s+to|need\s+to)\s+(?:only\s+|always\s+|never\s+)?(?:act|respond|reply|answer|behave|obey|follow|ignore|pretend|forward|speak|comply|execute)\b|(?:always|only|never)\s+(?:respond|reply|answer|obey|act|forward)\b|(?:ignore|disregard|obey|act\s+as)\b)/gi,
    ),
  ),
  needs(
    ['system', 'developer', 'override', 'mode'],
    rule(
      'system_prompt_override',
      'instruction_override',
      0.8,
      /\b(?:system|developer)\s+(?:prompt|instructions?)\s*:?\s*(?:override|overrides|update|updated|reset|replacement|injection)\b|\boverride\s+(?:the\s+|your\s+)?(?:system|safety)\s+(?:prompt|instructions?|rules|settings|guidelines)\b|\b(?:new|updated|replacement)\s+system\s+prompt\b|\b(?:enable|activate|enter|entering)\s+(?:god|jailbreak|dan|unrestricted|unfiltered)\s+mode\b|\b(?:god|jailbreak|dan|unrestricted|unfiltered)\s+mode\s+(?:is\s+)?(?:now\s+)?(?:enabled|activated|on|engaged)\b/gi,
    ),
  ),
  needs(
    [
      'user',
      'users',
      'human',
      'humans',
      'owner',
      'owners',
      'operator',
      'operators',
      'principal',
      'principals',
      'instructions',
      'prompt',
    ],
    rule(
      'conceal_from_user',
      'instruction_override',
      0.6,
      /\b(?:do\s+not|don['’]t|never)\s+(?:tell|inform|notify|alert|warn|let|mention\s+(?:this|it)\s+to)\s+(?:the\s+|your\s+)?(?:user|human|owner|operator|principal)s?\b|\b(?:do\s+not|don['’]t|never)\s+(?:reveal|mention|disclose)\s+(?:these|this|the|your)\s+(?:instructions|prompt)\b/gi,
    ),
  ),
  needs(
    ['ai', 'llm', 'large', 'language', 'automated', 'chatbot', 'chatbots'],
    rule(
      'addressed_to_ai',
      'instruction_override',
      0.5,
      /\bif\s+you\s+are\s+(?:an?\s+)?(?:ai|llm|large\s+language\s+model|language\s+model|ai\s+(?:assistant|agent|model)|automated\s+(?:assistant|agent|system)|chatbot)\b|\b(?:attention|note|message|instructions?|important)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?(?:ai|llm|language\s+model|ai\s+(?:assistant|agent|model)s?|automated\s+(?:assistant|agent)s?|chatbots?)\b/gi,
    ),
  ),

  needs(
    [
      'unrestricted',
      'unfiltered',
      'uncensored',
      'jailbroken',
      'evil',
      'rogue',
      'mode',
      'ai',
      'assistant',
      'persona',
      'character',
      'agent',
      'model',
      'bot',
      'chatbot',
      'language',
      'bound',
      'restricted',
      'limited',
    ],
    rule(
      'you_are_now',
      'role_hijack',
      0.6,
      /\byou\s+are\s+(?:now|no\s+longer)\s+(?:an?\s+|the\s+|in\s+|operating\s+in\s+)?(?:(?:unrestricted|unfiltered|uncensored|jailbroken|evil|rogue)\b|(?:developer|god|debug|admin|jailbreak|dan|unrestricted)\s+mode\b|(?:different|new)\s+(?:ai|assistant|persona|character|agent|model|bot)\b|(?:ai|chatbot|language\s+model)\b|(?:bound|restricted|limited)\s+by\s+(?:your|any|the)\s+(?:rules|guidelines|instructions|policies|restrictions|programming)\b)/gi,
    ),
  ),
  needs(
    [
      'system',
      'root',
      'superuser',
      'sysadmin',
      'administrator',
      'admin',
      'developer',
      'operator',
      'unrestricted',
      'jailbroken',
    ],
    needs(
      ['act', 'behave', 'operate', 'respond'],
      rule(
        'act_as_privileged',
        'role_hijack',
        0.5,
        /\b(?:act|behave|operate|respond)\s+as\s+(?:if\s+you\s+(?:are|were)\s+)?(?:an?\s+|the\s+)?(?:system|root|superuser|sysadmin|administrator|admin|developer|operator|unrestricted|jailbroken)\b/gi,
      ),
    ),
  ),
  needs(
    ['pretend', 'play', 'roleplay'],
    rule(
      'pretend_to_be',
      'role_hijack',
      0.5,
      /(?:^|[.!?:;]\s{0,5}|\b(?:please|now|and|just|you\s+(?:must|should|will|can))\s+)pretend\s+(?:to\s+be|(?:that\s+)?you\s+are|you['’]re|(?:that\s+)?you\s+have\s+no)\b|\brole[\s-]?play\s+as\b/gim,
    ),
  ),
  needs(
    [
      'im_start',
      'im_end',
      'im_sep',
      'system',
      'user',
      'assistant',
      'endoftext',
      'eot_id',
      'start_header_id',
      'end_header_id',
      'begin_of_text',
      'inst',
      'sys',
      'start_of_turn',
      'end_of_turn',
    ],
    rule(
      'chat_template_token',
      'role_hijack',
      0.8,
      /<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text)\|>|\[\/?INST\]|<<\/?SYS>>|<\/?(?:start|end)_of_turn>/gi,
    ),
  ),
  needs(
    ['system', 'assistant', 'developer'],
    rule(
      'chat_role_line',
      'role_hijack',
      0.6,
      /^[ \t>*]{0,8}(?:system|assistant|developer)(?:\s+(?:message|prompt|note))?\s*:\s*(?:you\b|you['’]re\b|ignore\b|disregard\b|forget\b|override\b|from\s+now\s+on\b|your\s+(?:new\s+)?(?:task|role|instructions|goal|objective)\b|the\s+user\b|as\s+an\s+ai\b)/gim,
    ),
  ),
  needs(
    ['system', 'assistant', 'developer', 'instructions'],
    rule(
      'markdown_role_header',
      'role_hijack',
      0.6,
      /^[ \t]{0,3}#{1,6}[ \t]*(?:system(?:\s+prompt)?|assistant|developer|new\s+instructions|instructions\s+for\s+(?:the\s+)?(?:ai|assistant|agent))[ \t]*:?[ \t]*$/gim,
    ),
  ),

  needs(
    ['command', 'commands', 'script', 'scripts', 'code', 'snippet', 'liner'],
    needs(
      ['run', 'execute', 'exec', 'launch', 'paste'],
      rule(
        'run_command_instruction',
        'tool_injection',
        0.4,
        /\b(?:run|execute|exec|launch|paste)\s+(?:the\s+following|this|these|the\s+command\s+below|below)\s+(?:shell\s+|bash\s+|terminal\s+|powershell\s+|system\s+)?(?:commands?|scripts?|code|snippet|one-liner)\b/gi,
      ),
    ),
  ),
  needs(
    ['curl', 'wget', 'iwr', 'webrequest', 'iex', 'expression', 'powershell', 'tcp', 'nc', 'bash'],
    rule(
      'remote_script_execution',
      'tool_injection',
      0.7,
      /\b(?:curl|wget|iwr|invoke-webrequest)\b[^\n|]{0,200}\|\s{0,3}(?:sudo\s+)?(?:ba|z|k|da|fi)?sh\b|\biex\s*\(|\binvoke-expression\b|\bpowershell(?:\.exe)?\b[^\n]{0,60}\s-(?:e|ec|enc|encodedcommand)\s|\/dev\/tcp\/|\bnc\b[^\n]{0,40}\s-e\s|\bbash\s+-c\s+["']?\$\(\s?(?:curl|wget)\b/gi,
    ),
  ),
  rule(
    'destructive_command',
    'tool_injection',
    0.6,
    /\brm\s+-(?:rf|fr|r\s+-f|f\s+-r|-recursive\s+--force)\b|\bmkfs(?:\.\w+)?\s|\bdd\s+if=\/dev\/(?:zero|random|urandom)\b|:\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:|\bdel\s+\/[sfq]\s+\/[sfq]\b|\bchmod\s+-R\s+777\s+\/(?:\s|$)/gim,
  ),
  needs(
    [
      'tool',
      'tool_name',
      'tool_call',
      'tool_calls',
      'tool_use',
      'function_call',
      'function_calls',
      'recipient_name',
      'invoke',
    ],
    rule(
      'function_call_json',
      'tool_injection',
      0.7,
      /\{\s{0,20}["']?(?:tool|tool_name|tool_call|tool_calls|tool_use|function_call|recipient_name)["']?\s{0,5}:|["'](?:function_call|tool_calls|tool_use|tool_call)["']\s{0,5}:|<\/?(?:tool_call|tool_use|function_calls?)>|<invoke\s+name=/gi,
    ),
  ),
  needs(
    [
      'tool',
      'function',
      'send_email',
      'send_mail',
      'send_message',
      'forward_email',
      'forward_message',
      'reply_email',
      'reply_all',
      'delete_email',
      'delete_message',
      'delete_messages',
      'list_messages',
      'read_inbox',
      'search_inbox',
      'search_emails',
      'get_messages',
      'http_request',
      'fetch_url',
      'web_fetch',
      'run_command',
      'run_shell',
      'execute_command',
      'shell_exec',
      'create_forwarding_rule',
    ],
    rule(
      'invoke_named_tool',
      'tool_injection',
      0.7,
      /\b(?:call|invoke|use|trigger)\s+(?:the\s+|your\s+|a\s+)?[`'"]?[a-z][a-z0-9]{0,30}[_.][a-z0-9_.]{1,40}[`'"]?\s+(?:tool|function)\b|\b(?:call|invoke|use|run|execute|trigger)\s+(?:the\s+|your\s+)?[`'"]?(?:send_email|send_mail|send_message|forward_email|forward_message|reply_email|reply_all|delete_email|delete_messages?|list_messages|read_inbox|search_inbox|search_emails|get_messages|http_request|fetch_url|web_fetch|run_command|run_shell|execute_command|shell_exec|create_forwarding_rule)\b/gi,
    ),
  ),
  needs(
    ['loftbox'],
    rule(
      'loftbox_cli_instruction',
      'tool_injection',
      0.7,
      /\b(?:use|run|call|invoke|execute)\s+(?:the\s+|your\s+)?loftbox\b|\bloftbox\s+(?:messages?\s+|mail\s+|keys?\s+)?(?:send|forward|export|create|delete|approve)\b/gi,
    ),
  ),
  needs(
    ['tool', 'tools', 'function', 'functions', 'capability', 'capabilities', 'plugin', 'plugins'],
    rule(
      'use_your_tools',
      'tool_injection',
      0.6,
      /\buse\s+(?:the|your)\s+(?:e-?mail|mail|send(?:ing)?|forward(?:ing)?|shell|terminal|bash|code\s+execution|browser|browsing|filesystem)\s+(?:tools?|functions?|capabilit(?:y|ies)|plugins?)\b/gi,
    ),
  ),

  needs(
    [
      'email',
      'emails',
      'mail',
      'mails',
      'message',
      'messages',
      'correspondence',
      'conversation',
      'conversations',
      'thread',
      'threads',
    ],
    needs(
      ['all', 'every', 'each', 'any'],
      needs(
        ['forward', 'redirect', 'bcc', 'autoforward', 'upload', 'exfiltrate'],
        rule(
          'forward_all_mail',
          'data_exfiltration',
          0.8,
          /\b(?:forward|redirect|bcc|auto-?forward|upload|exfiltrate)\s+(?:all|every|each|any)\s+(?:of\s+)?(?:the\s+|your\s+|my\s+|these\s+|this\s+)?(?:(?:incoming|future|new|received|past|previous|recent|other|existing|unread|inbound|outgoing|sent|private|internal|confidential)\s+)?(?:e-?mails?|messages?|mails?|correspondence|conversations?|threads?)\b[^.\n]{0,80}?\bto\s+(?:[\w.+-]{1,64}@[\w.-]{1,253}|me\b|us\b|my\s+(?:address|e-?mail|inbox)|this\s+(?:address|e-?mail)|the\s+(?:following|address)|https?:\/\/)/gi,
        ),
      ),
    ),
  ),
  needs(
    ['inbox', 'mailbox', 'history', 'archive'],
    rule(
      'export_mailbox',
      'data_exfiltration',
      0.8,
      /\b(?:forward|send|export|copy|dump|upload|sync|leak|exfiltrate|transfer)\s+(?:the\s+|your\s+|my\s+|this\s+)?(?:entire\s+|whole\s+|full\s+|complete\s+)?(?:inbox|mailbox|e-?mail\s+history|mail\s+history|e-?mail\s+archive|message\s+history)\b/gi,
    ),
  ),
  needs(
    ['rule', 'filter'],
    rule(
      'create_forwarding_rule',
      'data_exfiltration',
      0.6,
      /\b(?:create|set\s+up|add|configure|enable)\s+(?:an?\s+|the\s+)?(?:auto-?forward(?:ing)?|forwarding|redirect)\s+(?:rule|filter)\b/gi,
    ),
  ),
  needs(
    ['your', 'its'],
    needs(
      ['your', 'its'],
      rule(
        'credential_request',
        'data_exfiltration',
        0.8,
        /\b(?:send|give|share|provide|tell|reveal|disclose|e-?mail|forward|post|paste|upload|include|reply\s+with|respond\s+with)\s+(?:it\s+)?(?:(?:me|us)\s+)?(?:all\s+)?(?:your|its)\s+(?:(?:own|current|full|secret|private|admin|root|account|login|openai|anthropic|aws|api)\s+)?(?:api[\s_-]?keys?|access[\s_-]?tokens?|auth(?:entication)?\s+tokens?|bearer\s+tokens?|tokens|passwords?|passphrases?|passcodes?|credentials|secrets?|private\s+keys?|ssh\s+keys?|session\s+cookies|cookies|env(?:ironment)?\s+variables|\.env\b|system\s+prompt|hidden\s+(?:prompt|instructions)|(?:initial|original)\s+(?:prompt|instructions))/gi,
        true,
      ),
    ),
  ),
  needs(
    ['system', 'initial', 'hidden', 'original', 'secret', 'instructions', 'prompt', 'guidelines', 'above'],
    rule(
      'system_prompt_extraction',
      'data_exfiltration',
      0.8,
      /\b(?:reveal|print|output|repeat|show|display|disclose|leak|dump|recite|tell\s+me|what\s+(?:is|are|were))\s+(?:me\s+)?(?:your|the)\s+(?:(?:full|entire|exact|original|initial|hidden|secret|complete|current)\s+)?(?:system\s+prompt|initial\s+prompt|hidden\s+prompt|system\s+(?:instructions|message)|(?:hidden|original|initial|secret)\s+instructions|instructions\s+(?:you\s+were\s+given|above)|prompt\s+(?:above|verbatim))\b|\b(?:reveal|print|output|repeat|show|display|disclose|leak|dump|recite|tell)\s+(?:me\s+|us\s+)?your\s+(?:instructions|guidelines|prompt)\b|\brepeat\s+(?:the\s+|all\s+)?(?:words|text|everything)\s+above\b/gi,
    ),
  ),
  needs(
    ['content', 'contents', 'text', 'body', 'bodies', 'transcript'],
    needs(
      ['reply', 'respond', 'answer', 'include', 'paste', 'quote', 'append'],
      rule(
        'reply_with_contents',
        'data_exfiltration',
        0.6,
        /\b(?:reply|respond|answer)\s+(?:to\s+(?:this|me)\s+)?with\s+(?:the\s+|a\s+)?(?:full\s+|entire\s+|complete\s+|raw\s+|exact\s+|verbatim\s+)?(?:contents?|text|body|bodies|transcript)\s+of\b|\b(?:include|paste|quote|append)\s+(?:the\s+)?(?:full\s+|entire\s+|complete\s+|raw\s+)?(?:contents?|text|bodies)\s+of\s+(?:all\s+|every\s+|the\s+|your\s+)?(?:(?:previous|prior|other|recent|last|latest)\s+)?(?:e-?mails?|messages?|inbox|mailbox|conversations?|threads?)\b/gi,
      ),
    ),
  ),
  needs(
    ['include', 'append', 'paste', 'dump', 'summarise', 'summarize'],
    needs(
      ['history', 'log', 'logs', 'transcript', 'transcripts'],
      rule(
        'include_history',
        'data_exfiltration',
        0.5,
        /\b(?:include|append|paste|dump|summari[sz]e)\s+(?:the\s+|your\s+|all\s+|our\s+|this\s+)?(?:(?:full|entire|complete|whole)\s+)?(?:conversation|chat|message|inbox)\s+(?:history|log|logs|transcripts?)\b/gi,
      ),
    ),
  ),
  containing(
    '](',
    rule(
      'markdown_image_exfiltration',
      'data_exfiltration',
      0.7,
      /!\[[^\]\n]{0,200}\]\([ \t]{0,5}https?:\/\/[^\s)?]{1,300}\?[^\s)=]{0,100}=/gi,
    ),
  ),
  containing(
    '=',
    rule(
      'url_data_placeholder',
      'data_exfiltration',
      0.6,
      /[?&][\w.-]{1,40}=(?:\{\{?|\[|<|\$\{?|%7b|%5b|%3c)\s{0,3}(?:data|secrets?|tokens?|api[_ -]?keys?|keys?|passwords?|credentials?|history|conversation|chat|context|prompt|system|inbox|summary|contents?|memory)/gi,
    ),
  ),
  needs(
    ['url', 'link', 'query', 'image'],
    needs(
      ['append', 'encode', 'embed', 'insert'],
      rule(
        'append_to_url',
        'data_exfiltration',
        0.5,
        /\b(?:append|encode|embed|insert)\s+(?:it|them|this|that|the\s+[\w-]{1,30}|your\s+[\w-]{1,30}|all\s+[\w-]{1,30})\s+(?:[\w-]{1,30}\s+)?(?:to|in|into|as)\s+(?:the\s+|this\s+|a\s+)?(?:url|link|query\s+(?:string|param(?:eter)?s?)|image\s+(?:url|link|src))\b/gi,
      ),
    ),
  ),

  // Requests for what an agent must never do on a mail's say-so, however politely or plainly worded:
  // create, reveal or send secrets; forward, export or delete mail; change webhooks, rules or policies.
  needs(
    MINTED_SECRET_WORDS,
    needs(
      CREATE_SECRET_WORDS,
      requestRule(
        'create_secret',
        'secret_request',
        0.5,
        new RegExp(String.raw`${CREATE_VERB}${CREATE_OBJECT}\b`, 'gi'),
      ),
    ),
  ),
  needs(
    MINTED_SECRET_WORDS,
    needs(
      CREATE_SECRET_WORDS,
      requestRule(
        'create_and_send_secret',
        'secret_request',
        0.7,
        new RegExp(
          String.raw`${CREATE_VERB}${CREATE_OBJECT}\b[^.!?\n]{0,80}?(?:\band\b|\bthen\b|,)\s*(?:then\s+)?(?:e-?mail|send|forward|share|mail|post|paste|give|text|${REPLY_WITH})\s+(?:it|them|(?:the|this)\s+(?:new\s+)?(?:key|token|credentials))\b`,
          'gi',
        ),
      ),
    ),
  ),
  needs(
    NAMED_SECRET_WORDS,
    requestRule(
      'send_secret',
      'secret_request',
      0.6,
      new RegExp(
        String.raw`\b(?:send|e-?mail|mail|forward|share|give|paste|post|text|provide|disclose|reveal|print|show|display|dump|output|include|attach|${REPLY_WITH})\s+(?:(?:me|us|him|her|them)\s+)?(?:(?:the|this|that|our|its|a\s+copy\s+of\s+the|the\s+contents\s+of\s+the|the\s+contents\s+of)\s+)?${SECRET}|\b(?:need|want|require)\s+(?:the|its)\s+${SECRET}[^.!?\n]{0,60}?\b(?:sent|e-?mailed|forwarded|delivered)\s+to\b`,
        'gi',
      ),
    ),
  ),
  rule(
    'secret_file_path',
    'secret_request',
    0.5,
    /(?:~|\$HOME|%USERPROFILE%)[\\/]\.(?:config[\\/]loftbox|ssh|aws|gnupg|netrc|kube|docker[\\/]config\.json)|\bid_(?:rsa|ed25519|ecdsa)\b|\/etc\/(?:shadow|passwd)\b|\bLOFTBOX_API_KEY\b/gi,
  ),
  // The same requests in German, French and Spanish, in the polite imperative a request to the reader
  // takes ("senden Sie mir", "envoyez-moi", "envíenos"): a statement ("ich sende Ihnen das Passwort") does not match.
  // The lookbehind stands for `\b`, which sees no word boundary before a non-ASCII letter ("übermitteln").
  requestRule(
    'send_secret',
    'secret_request',
    0.6,
    /(?<![\p{L}\p{N}_])(?:senden|schicken|geben|nennen|mailen|teilen|übermitteln)\s+sie\s+(?:(?:mir|uns)\s+)?(?:bitte\s+)?(?:(?:sofort|umgehend|heute|noch|schnell)\s+){0,2}(?:das|die|den|ihr|ihre|ihren)\s+(?:(?:neue[nsm]?|aktuelle[nsm]?)\s+)?(?:passwort|kennwort|zugangsdaten|anmeldedaten|api-?schlüssel|token)\b|\b(?:schick|sende|gib|nenn)\s+(?:mir|uns)\s+(?:bitte\s+)?(?:das|die|den|dein|deine|deinen)\s+(?:(?:neue[nsm]?|aktuelle[nsm]?)\s+)?(?:passwort|kennwort|zugangsdaten|anmeldedaten|api-?schlüssel|token)\b|\b(?:envoyez|envoie|transmettez|transmets|communiquez|donnez|partagez|indiquez)[\s-]+(?:moi|nous)\s+(?:(?:immédiatement|rapidement|aujourd'hui)\s+)?(?:le|la|les|votre|ton|ta|vos|tes)\s+(?:(?:nouveau|nouvelle|nouveaux)\s+)?(?:mots?\s+de\s+passe|clés?\s+api|identifiants|jetons?|codes?\s+de\s+vérification)\b|\b(?:envíe(?:me|nos)?|envía(?:me|nos)?|mánda(?:me|nos)|mande(?:me|nos)?|comparta|comparte|proporcione|facilíte(?:me|nos))\s+(?:(?:hoy|ahora|inmediatamente|urgentemente)\s+)?(?:la|el|las|los|su|tu|sus|tus)\s+(?:(?:nueva|nuevo|nuevas|nuevos)\s+)?(?:contraseñas?|claves?\s+(?:de\s+)?api|credenciales|tokens?|códigos?\s+de\s+verificación)/giu,
    {
      hint: /(?:schick|sende|geben|gib|nenn|mailen|teilen|übermitteln|envoyez|envoie|transmet|communiquez|donnez|partagez|indiquez|envíe|envía|mánda|mande|compart|proporcione|facilíte)\p{L}*[\s-]/iu,
    },
  ),
  needs(
    ['alle', 'les', 'los', 'las'],
    requestRule(
      'forward_all_mail_translated',
      'mail_manipulation',
      0.6,
      /\b(?:leiten\s+sie|leite)\s+alle\s+(?:\S+\s+){0,3}?(?:e-?mails|nachrichten|mails)\s+(?:\S+\s+){0,4}?an\s+[\w.+-]{1,64}@|\b(?:transférez|transfère|redirigez|renvoyez)\s+(?:tous\s+les|toutes\s+les)\s+(?:e-?mails|courriels|messages|mails)\b|\b(?:reenvíe|reenvía|reenvíen|redirija|redirige)\s+(?:todos\s+los|todas\s+las)\s+(?:correos|mensajes|e-?mails)\b/gi,
    ),
  ),
  needs(
    ['message', 'email', 'mail', 'thread', 'conversation', 'note'],
    needs(
      ['delete', 'trash', 'erase', 'remove', 'purge', 'destroy', 'wipe', 'discard'],
      requestRule(
        'delete_this_message',
        'mail_manipulation',
        0.4,
        /\b(?:delete|trash|erase|remove|purge|destroy|wipe|discard)\s+(?:this|that|my)\s+(?:(?:original|previous|last|whole)\s+)?(?:message|e-?mail|mail|thread|conversation|note)\b|\b(?:delete|trash|erase|purge)\s+the\s+(?:whole\s+|entire\s+)?(?:thread|conversation|original\s+(?:message|e-?mail))\b/gi,
        { role: 'weak', unless: DISCLAIMER_RE },
      ),
    ),
  ),
  needs(
    [
      'message',
      'messages',
      'email',
      'emails',
      'mails',
      'thread',
      'threads',
      'conversation',
      'conversations',
      'originals',
      'inbox',
      'mailbox',
      'sent',
    ],
    needs(
      ['delete', 'trash', 'erase', 'remove', 'purge', 'destroy', 'wipe'],
      requestRule(
        'delete_mail_bulk',
        'mail_manipulation',
        0.6,
        /\b(?:delete|trash|erase|remove|purge|destroy|wipe)\s+(?:all|every|each|any)\s+(?:of\s+)?(?:the\s+|your\s+|these\s+|other\s+)?(?:(?:older|old|previous|past|existing|remaining|other|sent|incoming|received)\s+)?(?:messages?|e-?mails?|mails|threads?|conversations?)\b|\b(?:delete|trash|erase|purge|wipe)\s+(?:the\s+)?(?:originals|(?:entire\s+|whole\s+)?(?:inbox|mailbox)|sent\s+(?:items|folder|mail))\b/gi,
      ),
    ),
  ),
  containing(
    '@',
    requestRule(
      'forward_to_address',
      'mail_manipulation',
      0.35,
      /\b(?:forward|send|sent|bcc|cc|copy|redirect|relay)\s+(?:(?:this|the|that|these|those|all|every|each|my|our)\s+)?(?:[\w-]{1,30}\s+){0,3}?to\s+[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}/gi,
      { role: 'weak' },
    ),
  ),
  needs(
    ['emails', 'messages', 'mails', 'correspondence', 'conversations', 'threads', 'mailbox', 'inbox'],
    needs(
      ['export', 'download', 'dump', 'copy', 'back', 'extract', 'collect'],
      requestRule(
        'export_mail',
        'mail_manipulation',
        0.6,
        /\b(?:export|download|dump|copy|back\s+up|extract|collect)\s+(?:all|every|each|the|your|this)\s+(?:of\s+)?(?:the\s+)?(?:(?:incoming|received|sent|past|previous|recent|old|stored|archived)\s+)?(?:e-?mails|messages|mails|correspondence|conversations|threads|mailbox|inbox)\b/gi,
      ),
    ),
  ),
  needs(
    ['rule', 'filter'],
    requestRule(
      'mail_copy_rule',
      'mail_manipulation',
      0.6,
      /\b(?:set\s+up|create|add|configure|enable|make)\s+(?:an?\s+|the\s+)?(?:mail\s+|inbox\s+|e-?mail\s+)?(?:rule|filter)\s+(?:that|to|which)\s+(?:automatically\s+)?(?:forwards?|copies|copy|sends?|bccs?|redirects?)\b/gi,
    ),
  ),
  needs(
    ['webhook', 'webhooks', 'callback', 'forwarding', 'notification', 'event'],
    requestRule(
      'change_webhook',
      'config_change',
      0.6,
      /\b(?:add|create|register|set\s+up|change|update|point|replace|edit|modify|remove|delete|disable|configure)\s+(?:(?:a|an|the|your|our|this|its|my)\s+)?(?:new\s+)?(?:webhook(?:\s+(?:url|endpoint|target|address))?s?|callback\s+url|forwarding\s+address(?:es)?|notification\s+url|event\s+(?:subscription|endpoint)s?)\b(?!\s+(?:docs?|documentation|guides?|integration|pages?|articles?|examples?|tutorials?|formats?|payloads?|schemas?|links?)\b)/gi,
    ),
  ),
  needs(
    [
      'policy',
      'policies',
      'rule',
      'rules',
      'filter',
      'filters',
      'check',
      'checks',
      'limit',
      'limits',
      'restriction',
      'restrictions',
      'approval',
      'approvals',
      'review',
      'reviews',
      'guard',
      'guards',
      'safeguard',
      'safeguards',
    ],
    needs(
      [
        'disable',
        'turn',
        'switch',
        'remove',
        'delete',
        'bypass',
        'relax',
        'loosen',
        'lift',
        'pause',
        'suspend',
        'skip',
      ],
      requestRule(
        'change_policy',
        'config_change',
        0.6,
        /\b(?:disable|turn\s+off|switch\s+off|remove|delete|bypass|relax|loosen|lift|pause|suspend|skip)\s+(?:(?:the|your|our|this|its|all|any|every)\s+)?(?:(?:outbound|inbound|mailbox|sending|send|approval|security|spam|content|dlp|rate|recipient|forwarding|injection|safety|review)\s+){1,2}(?:polic(?:y|ies)|rules?|filters?|checks?|limits?|restrictions?|approvals?|reviews?|guards?|safeguards?)\b/gi,
      ),
    ),
  ),
  needs(
    ['allowed', 'allow', 'allowlist', 'white', 'whitelist', 'safe', 'trusted'],
    requestRule(
      'allowlist_change',
      'config_change',
      0.6,
      /\badd\s+\S{1,254}\s+to\s+(?:the\s+|your\s+)?(?:allowed\s+(?:recipients|senders)|allow-?list|white-?list|safe\s+senders?|trusted\s+senders?)\b/gi,
    ),
  ),
  needs(
    ['approve', 'release', 'unblock'],
    requestRule(
      'approve_held_mail',
      'config_change',
      0.6,
      /\b(?:approve|release|unblock)\s+(?:all|every|any|each|the)\s+(?:of\s+the\s+)?(?:pending|held|queued|blocked|waiting)\s+(?:messages?|e-?mails?|mails?|requests?|sends?)\b|\bapprove\s+(?:all|every|any|each|the)\s+(?:messages?|e-?mails?|requests?)\s+(?:waiting\s+)?in\s+the\s+approval\s+queue\b/gi,
    ),
  ),

  // Framing: pressure and borrowed authority, the wrapping of social engineering. Only counted beside a request.
  needs(
    [
      'urgent',
      'urgently',
      'asap',
      'immediately',
      'right',
      'delay',
      'sensitive',
      'final',
      'now',
      'eod',
      'required',
      'suspended',
      'disabled',
      'locked',
      'deleted',
      'terminated',
      'closed',
      'mandatory',
      'within',
      'day',
    ],
    framingRule(
      'urgency_framing',
      'urgency',
      0.2,
      /\b(?:urgent(?:ly)?|asap|immediately|right\s+(?:away|now)|without\s+delay|time[\s-]sensitive|final\s+(?:notice|warning|reminder)|act\s+now|do\s+(?:it|this)\s+now|within\s+(?:the\s+next\s+|the\s+)?(?:(?:\d{1,3}|one|two|an?)\s+)?(?:minutes?|hours?)|before\s+(?:the\s+)?end\s+of\s+(?:the\s+)?day|by\s+eod|action\s+required|will\s+be\s+(?:suspended|disabled|locked|deleted|terminated|closed)|(?:is|are)\s+mandatory)\b/gi,
    ),
  ),
  needs(
    [
      'system',
      'security',
      'compliance',
      'helpdesk',
      'help',
      'admin',
      'admins',
      'administrator',
      'administrators',
      'ceo',
      'cfo',
      'owner',
      'management',
      'board',
      'behalf',
      'operator',
      'boss',
      'manager',
      'human',
      'user',
      'agreed',
      'mandatory',
    ],
    framingRule(
      'authority_framing',
      'authority',
      0.3,
      /\bsystem\s+(?:notice|message|alert|notification|administrator|admin)\b|\b(?:security|compliance|helpdesk|help\s+desk)\s+(?:department|dept|team|operations|desk)\b|\b(?:mail|e-?mail|server|system|mailbox|loftbox|platform|domain|network)\s+admin(?:istrator)?s?\b|\b(?:message|notice|instructions?|request|order)\s+from\s+(?:the\s+|your\s+)?(?:ceo|cfo|owner|administrator|admin|management|board)\b|\bon\s+behalf\s+of\s+(?:the\s+|your\s+)?(?:ceo|cfo|owner|administrator|management|board|security\s+team)\b|\b(?:ceo|cfo|owner|administrator|your\s+(?:owner|operator|boss|manager))\s+(?:has\s+)?(?:asked|requested|instructed|authori[sz]ed|approved|ordered)\b|\b(?:already\s+|been\s+|pre-?)(?:approved|authori[sz]ed|cleared)\s+(?:by|with)\s+(?:the\s+|your\s+)?(?:owner|admin(?:istrator)?|ceo|cfo|management|human|operator|user|boss)\b|\bas\s+agreed\s+with\s+(?:the\s+|your\s+)?(?:owner|admin(?:istrator)?|ceo|management|operator)\b|\bthis\s+is\s+(?:the\s+|your\s+)?(?:administrator|admin|system|security\s+team|ceo|owner)\b|\bmandatory\s+(?:security|compliance)\b/gi,
    ),
  ),
  needs(
    ['dringend', 'umgehend', 'urgente', 'inmediatamente', 'imm'],
    framingRule(
      'urgency_framing',
      'urgency',
      0.2,
      /\b(?:dringend|umgehend|urgente|inmediatamente|immédiatement)\b/gi,
    ),
  ),
  needs(
    ['abteilung', 'systemadministrator', 'informatique', 'administrateur', 'departamento', 'administrador'],
    framingRule(
      'authority_framing',
      'authority',
      0.3,
      /\b(?:it-abteilung|systemadministrator|service\s+informatique|administrateur\s+(?:système|systèmes)|departamento\s+de\s+(?:ti|it|sistemas)|administrador\s+del\s+sistema)\b/gi,
    ),
  ),
  // "IT" only in capitals: "is it department policy" is not a claim of authority.
  containing(
    'IT',
    framingRule(
      'authority_framing',
      'authority',
      0.3,
      /\bIT\s+(?:department|dept|team|support|helpdesk|help\s+desk|admin(?:istrator)?|operations|ops|security)\b/g,
    ),
  ),
];

type HiddenRuleId =
  | 'css_display_none'
  | 'css_visibility_hidden'
  | 'css_font_size_zero'
  | 'css_opacity_zero'
  | 'css_zero_size_overflow'
  | 'css_color_matches_background'
  | 'html_hidden_attribute'
  | 'html_comment_instructions';

const hiddenRule = (id: HiddenRuleId): RuleDef => ({ id, category: 'hidden_text', weight: 0.6 });
const HIDDEN_RULES: Record<HiddenRuleId, RuleDef> = {
  css_display_none: hiddenRule('css_display_none'),
  css_visibility_hidden: hiddenRule('css_visibility_hidden'),
  css_font_size_zero: hiddenRule('css_font_size_zero'),
  css_opacity_zero: hiddenRule('css_opacity_zero'),
  css_zero_size_overflow: hiddenRule('css_zero_size_overflow'),
  css_color_matches_background: hiddenRule('css_color_matches_background'),
  html_hidden_attribute: hiddenRule('html_hidden_attribute'),
  html_comment_instructions: hiddenRule('html_comment_instructions'),
};
/*
 * Newsletters routinely hide a short preheader and mobile-only blocks, so hidden text alone is only a weak
 * signal, and only when there is enough of it to carry a payload the content rules did not recognise.
 */
const HIDDEN_LONG_WEIGHT = 0.25;
const HIDDEN_LONG_CHARS = 200;

const ZERO_WIDTH_IN_WORD: RuleDef = { id: 'zero_width_in_word', category: 'hidden_text', weight: 0.5 };
const ZERO_WIDTH_SEQUENCE: RuleDef = { id: 'zero_width_sequence', category: 'hidden_text', weight: 0.5 };
const UNICODE_TAG_CHARACTERS: RuleDef = {
  id: 'unicode_tag_characters',
  category: 'hidden_text',
  weight: 0.8,
};
const BIDI_OVERRIDE: RuleDef = { id: 'bidi_override', category: 'hidden_text', weight: 0.6 };
const BIDI_CONTROL: RuleDef = { id: 'bidi_control', category: 'hidden_text', weight: 0.4 };

const BASE64_INSTRUCTIONS: RuleDef = {
  id: 'base64_encoded_instructions',
  category: 'encoding_evasion',
  weight: 0.7,
};
const SPACED_LETTERS: RuleDef = { id: 'spaced_letters', category: 'encoding_evasion', weight: 0.6 };
const LEETSPEAK: RuleDef = { id: 'leetspeak', category: 'encoding_evasion', weight: 0.6 };
const HOMOGLYPH_OBFUSCATION: RuleDef = {
  id: 'homoglyph_obfuscation',
  category: 'encoding_evasion',
  weight: 0.6,
};
/* People switching keyboard layouts mistype the odd word in the wrong script, so a mixed word alone stays weak. */
const MIXED_SCRIPT_WORD: RuleDef = { id: 'mixed_script_word', category: 'encoding_evasion', weight: 0.25 };
const ENTITY_OBFUSCATION: RuleDef = {
  id: 'html_entity_obfuscation',
  category: 'encoding_evasion',
  weight: 0.6,
};
const PERCENT_ENCODING: RuleDef = { id: 'percent_encoding', category: 'encoding_evasion', weight: 0.6 };

// ---------------------------------------------------------------------------------------------------------
// Signals and score

const UNSAFE_CHAR_RE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}]/u;
const ASCII_SPACE_RE = /^[ \t\n\r\f\v]$/;

function toEvidence(raw: string): string {
  const pieces: string[] = [];
  let pendingSpace = false;
  // Four times the limit leaves room for escapes while keeping the work bounded for huge matches.
  for (const ch of raw.slice(0, EVIDENCE_MAX * 4)) {
    if (ASCII_SPACE_RE.test(ch)) {
      pendingSpace = pieces.length > 0;
      continue;
    }
    const shown = UNSAFE_CHAR_RE.test(ch)
      ? `\\u{${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}}`
      : ch;
    pieces.push(pendingSpace ? ` ${shown}` : shown);
    pendingSpace = false;
  }
  const whole = pieces.join('');
  if (whole.length <= EVIDENCE_MAX) return whole;
  let out = '';
  for (const piece of pieces) {
    if (out.length + piece.length > EVIDENCE_MAX - 1) break;
    out += piece;
  }
  return `${out}…`;
}

class SignalSet {
  private readonly byKey = new Map<string, InjectionSignal>();
  private readonly roles = new Map<string, RuleRole>();

  add(def: RuleDef, weight: number, location: Location, evidence: string): void {
    const key = `${def.id}\u0000${location}`;
    if (def.role) this.roles.set(def.id, def.role);
    const previous = this.byKey.get(key);
    if (previous && previous.weight >= weight) return;
    this.byKey.set(key, {
      category: def.category,
      rule: def.id,
      weight,
      location,
      evidence: toEvidence(evidence),
    });
  }

  /**
   * Drops weak and framing signals that stand alone: a weak request counts beside another request (weak
   * or not), framing only beside a request that counts. "URGENT: please forward this to ap@…" or "please
   * delete this email" leave the score at 0; "forward this to … and delete this message" does not.
   */
  private counted(): InjectionSignal[] {
    const all = [...this.byKey.values()];
    const roleOf = (signal: InjectionSignal) => this.roles.get(signal.rule);
    if (all.some((signal) => roleOf(signal) === undefined)) return all;
    const weakRules = new Set(all.filter((s) => roleOf(s) === 'weak').map((s) => s.rule));
    return weakRules.size >= 2 ? all : [];
  }

  risk(): InjectionRisk {
    const signals = this.counted().sort(
      (a, b) =>
        b.weight - a.weight ||
        INJECTION_CATEGORIES.indexOf(a.category) - INJECTION_CATEGORIES.indexOf(b.category) ||
        (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0) ||
        LOCATIONS.indexOf(a.location) - LOCATIONS.indexOf(b.location),
    );
    // A rule that fires in several places (text and html alternatives of one message) counts once.
    const strongest = new Map<string, number>();
    for (const signal of signals) {
      strongest.set(signal.rule, Math.max(strongest.get(signal.rule) ?? 0, signal.weight));
    }
    let untouched = 1;
    for (const weight of strongest.values()) untouched *= 1 - weight;
    const score = Math.min(1, Math.max(0, Math.round((1 - untouched) * 100) / 100));
    const fired = new Set(signals.map((signal) => signal.category));
    return { score, categories: INJECTION_CATEGORIES.filter((c) => fired.has(c)), signals };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Layers: a text plus the edits that produced it from its parent, so that a match found in a rewritten
// (decoded, de-obfuscated) text can be traced back to what the sender actually wrote.

interface Span {
  start: number;
  end: number;
}

interface Edit {
  from: number;
  to: number;
  outFrom: number;
  outTo: number;
}

interface Replacement {
  start: number;
  end: number;
  text: string;
}

/** Number of leading items for which `before` holds, over items sorted so that it holds for a prefix. */
function countWhile<T>(items: readonly T[], before: (item: T) => boolean): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(items[mid] as T)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

class Layer {
  private cachedWords: ReadonlySet<string> | null = null;

  constructor(
    readonly text: string,
    private readonly edits: readonly Edit[] = [],
    readonly parent: Layer | null = null,
  ) {}

  /**
   * At least the text's ASCII words (see `wordsOf`). A variant shares its parent's words except around
   * its edits, so it takes the parent's and adds those of each edit, stretched to the words it touches.
   */
  words(): ReadonlySet<string> {
    const fromParent = this.parent?.cachedWords;
    this.cachedWords ??= fromParent ? this.wordsBeside(fromParent) : wordsOf(this.text);
    return this.cachedWords;
  }

  private wordsBeside(parentWords: ReadonlySet<string>): Set<string> {
    const words = new Set(parentWords);
    for (const edit of this.edits) {
      let from = edit.outFrom;
      while (from > 0 && isAsciiWordChar(this.text.charCodeAt(from - 1))) from--;
      let to = edit.outTo;
      while (to < this.text.length && isAsciiWordChar(this.text.charCodeAt(to))) to++;
      for (const word of wordsOf(this.text.slice(from, to))) words.add(word);
    }
    return words;
  }

  /** Whether [start, end) overlaps text that an edit produced. */
  touchesEdit(start: number, end: number): boolean {
    const edit = this.edits[countWhile(this.edits, (e) => e.outTo <= start)];
    return edit !== undefined && edit.outFrom < end;
  }

  toParent(pos: number, side: 'start' | 'end'): number {
    const index = countWhile(this.edits, (e) => (side === 'start' ? e.outFrom <= pos : e.outFrom < pos)) - 1;
    const edit = this.edits[index];
    if (edit === undefined) return pos;
    if (pos >= edit.outTo) return edit.to + (pos - edit.outTo);
    return side === 'start' ? edit.from : edit.to;
  }

  toRoot(pos: number, side: 'start' | 'end'): number {
    return this.parent ? this.parent.toRoot(this.toParent(pos, side), side) : pos;
  }
}

function applyReplacements(parent: Layer, replacements: readonly Replacement[]): Layer | null {
  if (replacements.length === 0) return null;
  const edits: Edit[] = [];
  let out = '';
  let last = 0;
  for (const { start, end, text } of replacements) {
    out += parent.text.slice(last, start);
    const outFrom = out.length;
    out += text;
    edits.push({ from: start, to: end, outFrom, outTo: out.length });
    last = end;
  }
  return new Layer(out + parent.text.slice(last), edits, parent);
}

/** Rewrites each match for which `replace` returns a string; null when nothing changed. */
function rewrite(parent: Layer, pattern: RegExp, replace: (match: string) => string | null): Layer | null {
  const replacements: Replacement[] = [];
  for (const m of parent.text.matchAll(pattern)) {
    const text = replace(m[0]);
    if (text !== null && text !== m[0])
      replacements.push({ start: m.index, end: m.index + m[0].length, text });
  }
  return applyReplacements(parent, replacements);
}

// ---------------------------------------------------------------------------------------------------------
// HTML: one linear scan that keeps rendered text, records which stretches a reader would not see, and notes
// where letters were spelled with numeric entities.

interface HiddenRegion extends Span {
  rule: HiddenRuleId;
  owner: number;
}

interface Owner {
  id: number;
  rule: HiddenRuleId;
}

interface Rgba {
  r: number;
  g: number;
  b: number;
  a: number;
}

type Background = Rgba | 'unknown' | null;

interface Frame {
  name: string;
  hard: HiddenRuleId | null;
  visibilityHidden: boolean;
  fontZero: boolean;
  color: Rgba | null;
  background: Background;
  owner: Owner | null;
}

const ROOT_FRAME: Frame = {
  name: '#root',
  hard: null,
  visibilityHidden: false,
  fontZero: false,
  color: null,
  background: null,
  owner: null,
};

const VOID_ELEMENTS = new Set([
  'area',
  'base',
  'br',
  'col',
  'embed',
  'hr',
  'img',
  'input',
  'link',
  'meta',
  'param',
  'source',
  'track',
  'wbr',
]);
const BLOCK_ELEMENTS = new Set([
  'address',
  'article',
  'aside',
  'blockquote',
  'br',
  'center',
  'dd',
  'div',
  'dl',
  'dt',
  'fieldset',
  'figcaption',
  'figure',
  'footer',
  'form',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'header',
  'hr',
  'li',
  'main',
  'nav',
  'ol',
  'p',
  'pre',
  'section',
  'table',
  'tbody',
  'td',
  'tfoot',
  'th',
  'thead',
  'title',
  'tr',
  'ul',
]);
/* Elements whose start tag implicitly closes an open sibling, so one unclosed <p> does not nest the rest. */
const IMPLIED_END = new Map<string, readonly string[]>([
  ['p', ['p']],
  ['li', ['li']],
  ['dt', ['dt', 'dd']],
  ['dd', ['dt', 'dd']],
  ['tr', ['tr', 'td', 'th']],
  ['td', ['td', 'th']],
  ['th', ['td', 'th']],
  ['option', ['option']],
]);
const RAW_TEXT_CLOSE = new Map([
  ['script', /<\/script/gi],
  ['style', /<\/style/gi],
]);
/* Deeper nesting only happens in hostile input; past this depth elements are flattened into their parent. */
const MAX_DEPTH = 256;

const NAMED_ENTITIES = new Map<string, string>([
  ['amp', '&'],
  ['lt', '<'],
  ['gt', '>'],
  ['quot', '"'],
  ['apos', "'"],
  ['nbsp', '\u00A0'],
  ['zwnj', '\u200C'],
  ['zwj', '\u200D'],
  ['lrm', '\u200E'],
  ['rlm', '\u200F'],
  ['shy', '\u00AD'],
  ['ensp', '\u2002'],
  ['emsp', '\u2003'],
  ['thinsp', '\u2009'],
  ['hellip', '…'],
  ['mdash', '—'],
  ['ndash', '–'],
  ['lsquo', '‘'],
  ['rsquo', '’'],
  ['ldquo', '“'],
  ['rdquo', '”'],
  ['bull', '•'],
  ['middot', '·'],
  ['copy', '©'],
  ['reg', '®'],
  ['trade', '™'],
  ['euro', '€'],
  ['pound', '£'],
  ['laquo', '«'],
  ['raquo', '»'],
]);
const ENTITY_RE = /&(?:#(\d{1,8})|#[xX]([0-9a-fA-F]{1,8})|([A-Za-z][A-Za-z0-9]{1,31}));?/g;
const ALNUM_RE = /^[A-Za-z0-9]$/;

function decodeEntity(
  decimal: string | undefined,
  hex: string | undefined,
  name: string | undefined,
): { text: string; numeric: boolean } | null {
  if (name !== undefined) {
    const text = NAMED_ENTITIES.get(name.toLowerCase());
    return text === undefined ? null : { text, numeric: false };
  }
  const code = decimal !== undefined ? Number.parseInt(decimal, 10) : Number.parseInt(hex ?? '', 16);
  const valid = code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
  return { text: valid ? String.fromCodePoint(code).normalize('NFKC') : '\uFFFD', numeric: true };
}

function decodeEntities(value: string): string {
  return value.replace(
    ENTITY_RE,
    (match, decimal?: string, hex?: string, name?: string) => decodeEntity(decimal, hex, name)?.text ?? match,
  );
}

const NAMED_COLORS = new Map<string, string>([
  ['white', '#ffffff'],
  ['snow', '#fffafa'],
  ['ivory', '#fffff0'],
  ['ghostwhite', '#f8f8ff'],
  ['whitesmoke', '#f5f5f5'],
  ['floralwhite', '#fffaf0'],
  ['mintcream', '#f5fffa'],
  ['azure', '#f0ffff'],
  ['aliceblue', '#f0f8ff'],
  ['seashell', '#fff5ee'],
  ['linen', '#faf0e6'],
  ['beige', '#f5f5dc'],
  ['black', '#000000'],
  ['silver', '#c0c0c0'],
  ['lightgray', '#d3d3d3'],
  ['lightgrey', '#d3d3d3'],
  ['gainsboro', '#dcdcdc'],
  ['gray', '#808080'],
  ['grey', '#808080'],
  ['darkgray', '#a9a9a9'],
  ['darkgrey', '#a9a9a9'],
  ['dimgray', '#696969'],
  ['dimgrey', '#696969'],
  ['red', '#ff0000'],
  ['maroon', '#800000'],
  ['orange', '#ffa500'],
  ['yellow', '#ffff00'],
  ['olive', '#808000'],
  ['lime', '#00ff00'],
  ['green', '#008000'],
  ['aqua', '#00ffff'],
  ['cyan', '#00ffff'],
  ['teal', '#008080'],
  ['blue', '#0000ff'],
  ['navy', '#000080'],
  ['fuchsia', '#ff00ff'],
  ['magenta', '#ff00ff'],
  ['purple', '#800080'],
]);

function parseColor(value: string): Rgba | null {
  const v = value.trim().toLowerCase();
  if (v === 'transparent') return { r: 0, g: 0, b: 0, a: 0 };
  const hex = /^#([0-9a-f]{3,8})$/.exec(NAMED_COLORS.get(v) ?? v)?.[1];
  if (hex !== undefined) {
    const full = hex.length <= 4 ? hex.replace(/./g, '$&$&') : hex;
    if (full.length !== 6 && full.length !== 8) return null;
    const channel = (i: number) => Number.parseInt(full.slice(i, i + 2), 16);
    return { r: channel(0), g: channel(2), b: channel(4), a: full.length === 8 ? channel(6) / 255 : 1 };
  }
  const args = /^rgba?\(([^()]{0,80})\)$/.exec(v)?.[1];
  if (args === undefined) return null;
  const parts = args.split(/[\s,/]+/).filter(Boolean);
  const number = (part: string | undefined, scale: number) =>
    part === undefined
      ? 1
      : part.endsWith('%')
        ? (Number.parseFloat(part) / 100) * scale
        : Number.parseFloat(part);
  const [r, g, b, a] = [
    number(parts[0], 255),
    number(parts[1], 255),
    number(parts[2], 255),
    number(parts[3], 1),
  ];
  return parts.length >= 3 && [r, g, b, a].every(Number.isFinite) ? { r, g, b, a } : null;
}

/** The background colour a declaration sets; undefined when it leaves the parent's showing through. */
function parseBackground(value: string): Background | undefined {
  if (/^(?:none|inherit|initial|unset|transparent)$/.test(value)) return undefined;
  for (const token of value.matchAll(/#[0-9a-f]{3,8}\b|rgba?\([^()]{0,80}\)|[a-z]+/g)) {
    const color = parseColor(token[0]);
    if (color) return color.a < 0.5 ? undefined : color;
  }
  return 'unknown';
}

function luminance({ r, g, b }: Rgba): number {
  const linear = (c: number) => {
    const s = Math.min(255, Math.max(0, c)) / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

const WHITE: Rgba = { r: 255, g: 255, b: 255, a: 1 };

/** Only an explicit inline colour is judged: colours from <style> sheets are not resolved here. */
function textInvisible(color: Rgba | null, background: Background): boolean {
  if (color === null) return false;
  if (color.a < 0.1) return true;
  if (background === 'unknown') return false;
  const [l1, l2] = [luminance(color), luminance(background ?? WHITE)];
  return (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05) < 1.25;
}

function stripCssComments(css: string): string {
  let out = '';
  let pos = 0;
  for (let open = css.indexOf('/*'); open >= 0; open = css.indexOf('/*', pos)) {
    out += css.slice(pos, open);
    const close = css.indexOf('*/', open + 2);
    pos = close < 0 ? css.length : close + 2;
  }
  return out + css.slice(pos);
}

function parseStyle(style: string): Map<string, string> {
  const declarations = new Map<string, string>();
  for (const declaration of stripCssComments(style).split(';')) {
    const colon = declaration.indexOf(':');
    if (colon < 0) continue;
    const value = declaration
      .slice(colon + 1)
      .toLowerCase()
      .replace('!important', '')
      .replace(/\s+/g, ' ')
      .trim();
    declarations.set(declaration.slice(0, colon).trim().toLowerCase(), value);
  }
  return declarations;
}

/** Zero, or a single pixel/point: both hide text. */
function tinyLength(value: string): boolean {
  const n = Number.parseFloat(value);
  return n === 0 || (n > 0 && n <= 1 && /^[\d.]+(?:px|pt)?$/.test(value));
}

function fontSizeZero(value: string, parentZero: boolean): boolean {
  if (value === 'inherit') return parentZero;
  const n = Number.parseFloat(value);
  if (!Number.isFinite(n)) return false;
  if (/(?:em|%|ex|ch)$/.test(value) && !value.endsWith('rem')) return n === 0 || parentZero;
  return tinyLength(value);
}

function hardHiddenRule(style: Map<string, string>): HiddenRuleId | null {
  if (style.get('display') === 'none') return 'css_display_none';
  const opacity = style.get('opacity');
  if (opacity !== undefined) {
    const n = Number.parseFloat(opacity) / (opacity.endsWith('%') ? 100 : 1);
    if (n <= 0.05) return 'css_opacity_zero';
  }
  const overflow = style.get('overflow') ?? style.get('overflow-y') ?? style.get('overflow-x');
  const clipped = overflow === 'hidden' || overflow === 'clip';
  const collapsed = ['height', 'max-height', 'width', 'max-width'].some((prop) => {
    const value = style.get(prop);
    return value !== undefined && tinyLength(value);
  });
  return clipped && collapsed ? 'css_zero_size_overflow' : null;
}

const ATTRIBUTE_RE = /([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;

function parseAttributes(source: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const m of source.matchAll(ATTRIBUTE_RE)) {
    const name = (m[1] ?? '').toLowerCase();
    if (!attributes.has(name)) attributes.set(name, decodeEntities(m[2] ?? m[3] ?? m[4] ?? ''));
  }
  return attributes;
}

function childFrame(parent: Frame, name: string, attributes: Map<string, string>, nextId: number): Frame {
  const style = parseStyle(attributes.get('style') ?? '');
  const hard = parent.hard ?? (attributes.has('hidden') ? 'html_hidden_attribute' : hardHiddenRule(style));
  const visibility = style.get('visibility');
  const visibilityHidden =
    visibility === undefined ? parent.visibilityHidden : visibility === 'hidden' || visibility === 'collapse';
  const fontSize = style.get('font-size');
  const fontZero = fontSize === undefined ? parent.fontZero : fontSizeZero(fontSize, parent.fontZero);
  const colorValue = style.get('color') ?? (name === 'font' ? attributes.get('color') : undefined);
  const color = colorValue === undefined ? parent.color : parseColor(colorValue);
  const bgcolor = attributes.get('bgcolor');
  const backgroundValue = style.get('background-color') ?? style.get('background');
  const ownBackground =
    backgroundValue !== undefined
      ? parseBackground(backgroundValue)
      : bgcolor !== undefined
        ? (parseColor(bgcolor) ?? 'unknown')
        : undefined;
  const background = ownBackground ?? parent.background;
  const rule: HiddenRuleId | null =
    hard ??
    (visibilityHidden
      ? 'css_visibility_hidden'
      : fontZero
        ? 'css_font_size_zero'
        : textInvisible(color, background)
          ? 'css_color_matches_background'
          : null);
  const owner = rule === null ? null : parent.owner?.rule === rule ? parent.owner : { id: nextId, rule };
  return { name, hard, visibilityHidden, fontZero, color, background, owner };
}

interface Extracted {
  text: string;
  hidden: HiddenRegion[];
  entityLetters: Span[];
}

class HtmlText implements Extracted {
  text = '';
  readonly hidden: HiddenRegion[] = [];
  readonly entityLetters: Span[] = [];
  private lastOwner: number | null = null;

  append(raw: string, owner: Owner | null): void {
    if (this.text.length >= FIELD_CAP) return;
    const start = this.text.length;
    const normalized = raw.normalize('NFKC');
    let last = 0;
    for (const m of normalized.matchAll(ENTITY_RE)) {
      this.text += normalized.slice(last, m.index);
      const decoded = decodeEntity(m[1], m[2], m[3]);
      const from = this.text.length;
      this.text += decoded?.text ?? m[0];
      if (decoded?.numeric && ALNUM_RE.test(decoded.text)) {
        this.entityLetters.push({ start: from, end: this.text.length });
      }
      last = m.index + m[0].length;
    }
    this.text = (this.text + normalized.slice(last)).slice(0, FIELD_CAP);
    this.markHidden(start, owner);
  }

  appendComment(body: string, id: number): void {
    this.separate();
    this.append(stripTags(body), { id, rule: 'html_comment_instructions' });
    this.separate();
  }

  separate(): void {
    if (this.text.length > 0 && this.text.length < FIELD_CAP && !this.text.endsWith('\n')) this.text += '\n';
  }

  private markHidden(start: number, owner: Owner | null): void {
    const end = this.text.length;
    const previous = this.hidden[this.hidden.length - 1];
    if (owner && end > start) {
      if (previous && previous.owner === owner.id && this.lastOwner === owner.id) previous.end = end;
      else this.hidden.push({ start, end, rule: owner.rule, owner: owner.id });
    }
    this.lastOwner = owner?.id ?? null;
  }
}

/** Drops tags from comment bodies (conditional comments carry markup); linear, stops at an unclosed tag. */
function stripTags(source: string): string {
  let out = '';
  let pos = 0;
  for (let open = source.indexOf('<'); open >= 0; open = source.indexOf('<', pos)) {
    const close = source.indexOf('>', open);
    if (close < 0) break;
    out += `${source.slice(pos, open)} `;
    pos = close + 1;
  }
  return out + source.slice(pos);
}

const isAsciiLetter = (code: number) => (code >= 65 && code <= 90) || (code >= 97 && code <= 122);

/** Index of the '>' closing a tag opened before `from`, skipping quoted attribute values; -1 at end of input. */
function findTagEnd(html: string, from: number): number {
  let quote = 0;
  let afterEquals = false;
  for (let i = from; i < html.length; i++) {
    const c = html.charCodeAt(i);
    if (quote !== 0) {
      if (c === quote) quote = 0;
    } else if (c === 62) {
      return i;
    } else if ((c === 34 || c === 39) && afterEquals) {
      quote = c;
    } else if (c !== 32 && c !== 9 && c !== 10 && c !== 13) {
      afterEquals = c === 61;
    }
  }
  return -1;
}

function extractHtml(html: string): Extracted {
  const out = new HtmlText();
  const stack: Frame[] = [ROOT_FRAME];
  const top = () => stack[stack.length - 1] ?? ROOT_FRAME;
  let nextId = 1;
  let pos = 0;
  let textStart = 0;
  const flush = (end: number) => {
    if (end > textStart) out.append(html.slice(textStart, end), top().owner);
  };
  while (pos < html.length) {
    const lt = html.indexOf('<', pos);
    if (lt < 0) break;
    const next = html.charCodeAt(lt + 1);
    if (isAsciiLetter(next) || (next === 47 && isAsciiLetter(html.charCodeAt(lt + 2)))) {
      const gt = findTagEnd(html, lt + 1);
      flush(lt);
      // A tag left open at the end of input swallows the rest, as it does in a browser.
      if (gt < 0) return out;
      pos = textStart = gt + 1;
      const source = html.slice(lt + 1, gt);
      const closing = source.startsWith('/');
      const name = (/^\/?([A-Za-z][^\s/>]*)/.exec(source)?.[1] ?? '').toLowerCase();
      if (BLOCK_ELEMENTS.has(name)) out.separate();
      if (closing) {
        const index = stack.map((frame) => frame.name).lastIndexOf(name);
        if (index > 0) stack.length = index;
        continue;
      }
      if (IMPLIED_END.get(name)?.includes(top().name) || (BLOCK_ELEMENTS.has(name) && top().name === 'p')) {
        stack.pop();
      }
      const rawClose = RAW_TEXT_CLOSE.get(name);
      if (rawClose) {
        rawClose.lastIndex = pos;
        const close = rawClose.exec(html);
        const end = close ? html.indexOf('>', close.index) : -1;
        pos = textStart = end < 0 ? html.length : end + 1;
      } else if (!VOID_ELEMENTS.has(name) && stack.length <= MAX_DEPTH) {
        stack.push(childFrame(top(), name, parseAttributes(source.slice(name.length)), nextId++));
      }
    } else if (html.startsWith('<!--', lt)) {
      flush(lt);
      const close = html.indexOf('-->', lt + 4);
      out.appendComment(html.slice(lt + 4, close < 0 ? html.length : close), nextId++);
      pos = textStart = close < 0 ? html.length : close + 3;
    } else if (next === 33 || next === 63 || next === 47) {
      // Doctype, CDATA, processing instructions and `</ >` are bogus comments that render nothing.
      flush(lt);
      const gt = html.indexOf('>', lt + 2);
      pos = textStart = gt < 0 ? html.length : gt + 1;
    } else {
      pos = lt + 1;
    }
  }
  flush(html.length);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Invisible characters, looked for before anything is normalised away.

const ZERO_WIDTH = '\\u200B-\\u200F\\u2060-\\u2064\\uFEFF';
const ZERO_WIDTH_RE = new RegExp(`[${ZERO_WIDTH}]+`, 'gu');
const ZERO_WIDTH_ANY_RE = new RegExp(`[${ZERO_WIDTH}]`, 'u');
const ZERO_WIDTH_IN_WORD_RE = new RegExp(`(?<=\\p{Script=Latin})[${ZERO_WIDTH}]+(?=\\p{Script=Latin})`, 'u');
/* Emoji sequences, Persian and Indic joiners and preheader padding use these characters one at a time. */
const ZERO_WIDTH_RUN_RE = new RegExp(`[${ZERO_WIDTH}]{8,}`, 'u');
const TAG_RUN_RE = /[\u{E0000}-\u{E007F}]+/gu;
const BIDI_OVERRIDE_RE = /[\u202D\u202E]/u;
const BIDI_CONTROL_RE = /[\u202A-\u202C\u2066-\u2069]/u;
const RTL_LETTER_RE =
  /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}\p{Script=Samaritan}\p{Script=Mandaic}\p{Script=Adlam}]/u;
const BLACK_FLAG = '\u{1F3F4}';
const CANCEL_TAG = '\u{E007F}';

const around = (text: string, index: number, length: number) =>
  text.slice(Math.max(0, index - 24), index + length + 24);

/** Subdivision flags (England, Scotland, Wales) are the one legitimate use of tag characters. */
function isFlagSequence(text: string, index: number, run: string): boolean {
  return text.slice(index - 2, index) === BLACK_FLAG && run.endsWith(CANCEL_TAG) && run.length <= 14;
}

function detectInvisible(text: string, location: Location, signals: SignalSet): void {
  // The in-word pattern starts with a lookbehind, which the engine tries at every position.
  if (ZERO_WIDTH_ANY_RE.test(text)) detectZeroWidth(text, location, signals);
  for (const tags of text.matchAll(TAG_RUN_RE)) {
    if (isFlagSequence(text, tags.index, tags[0])) continue;
    signals.add(
      UNICODE_TAG_CHARACTERS,
      UNICODE_TAG_CHARACTERS.weight,
      location,
      around(text, tags.index, 12),
    );
    break;
  }
  const override = BIDI_OVERRIDE_RE.exec(text);
  if (override) signals.add(BIDI_OVERRIDE, BIDI_OVERRIDE.weight, location, around(text, override.index, 1));
  // Embeddings and isolates are routine around right-to-left text and pointless without it.
  const control = BIDI_CONTROL_RE.exec(text);
  if (control && !RTL_LETTER_RE.test(text)) {
    signals.add(BIDI_CONTROL, BIDI_CONTROL.weight, location, around(text, control.index, 1));
  }
}

function detectZeroWidth(text: string, location: Location, signals: SignalSet): void {
  const inWord = ZERO_WIDTH_IN_WORD_RE.exec(text);
  if (inWord)
    signals.add(
      ZERO_WIDTH_IN_WORD,
      ZERO_WIDTH_IN_WORD.weight,
      location,
      around(text, inWord.index, inWord[0].length),
    );
  const run = ZERO_WIDTH_RUN_RE.exec(text);
  if (run)
    signals.add(
      ZERO_WIDTH_SEQUENCE,
      ZERO_WIDTH_SEQUENCE.weight,
      location,
      around(text, run.index, run[0].length),
    );
}

/** Tag characters mirror ASCII, so smuggled text is decoded in place rather than dropped. */
const CLEAN_RE = /[\u{E0000}-\u{E007F}]+|[\u00AD\u061C\u180E\u202A-\u202E\u2066-\u2069]+|\u034F+/gu;

function cleanInvisible(run: string): string {
  if ((run.codePointAt(0) ?? 0) < 0xe0000) return '';
  let decoded = '';
  for (const ch of run) {
    const code = (ch.codePointAt(0) ?? 0) - 0xe0000;
    if (code >= 0x20 && code <= 0x7e) decoded += String.fromCharCode(code);
  }
  return ` ${decoded} `;
}

// ---------------------------------------------------------------------------------------------------------
// De-obfuscated variants of the text. Only matches that overlap a rewritten stretch count, so a variant
// cannot add signals the plain text already explains.

const SPACED_LETTERS_RE = /(?<![a-z])(?:[a-z][ .\-_*]){2,}[a-z](?![a-z])/gi;

const LEET = new Map([
  ['0', 'o'],
  ['1', 'i'],
  ['3', 'e'],
  ['4', 'a'],
  ['5', 's'],
  ['7', 't'],
  ['@', 'a'],
  ['$', 's'],
]);
const LEET_TOKEN_RE = /[\p{L}\p{N}@$]{2,40}/gu;

function deleet(token: string): string | null {
  if (!/[a-z]/i.test(token) || !/[013457@$]/.test(token)) return null;
  return token.replace(/[013457@$]/g, (ch) => LEET.get(ch) ?? ch);
}

const LEET_CHAR_RE = /[013457@$]/g;
const TOKEN_CHAR_RE = /^[\p{L}\p{N}@$]$/u;
const TOKEN_RUN_RE = /[\p{L}\p{N}@$]*/uy;

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/** Where the run of token characters (code points) that holds position `at` starts. */
function tokenRunStart(text: string, at: number): number {
  let start = at;
  while (start > 0) {
    const pair =
      start >= 2 && isLowSurrogate(text.charCodeAt(start - 1)) && isHighSurrogate(text.charCodeAt(start - 2));
    const previous = pair ? start - 2 : start - 1;
    if (!TOKEN_CHAR_RE.test(text.slice(previous, start))) break;
    start = previous;
  }
  return start;
}

/**
 * `rewrite(base, LEET_TOKEN_RE, deleet)`, looking only at the runs of token characters that hold a leet
 * character: the others give no replacement, and a run is cut into the same tokens wherever the scan
 * starts before it.
 */
function leetVariant(base: Layer): Layer | null {
  const { text } = base;
  const replacements: Replacement[] = [];
  const leet = new RegExp(LEET_CHAR_RE);
  const tokens = new RegExp(LEET_TOKEN_RE);
  const run = new RegExp(TOKEN_RUN_RE);
  for (let m = leet.exec(text); m !== null; m = leet.exec(text)) {
    run.lastIndex = m.index;
    run.exec(text);
    const end = run.lastIndex;
    tokens.lastIndex = tokenRunStart(text, m.index);
    for (let t = tokens.exec(text); t !== null && t.index < end; t = tokens.exec(text)) {
      const replaced = deleet(t[0]);
      if (replaced !== null && replaced !== t[0]) {
        replacements.push({ start: t.index, end: t.index + t[0].length, text: replaced });
      }
    }
    leet.lastIndex = end;
  }
  return applyReplacements(base, replacements);
}

const CONFUSABLES = new Map<string, string>(
  [
    'аa',
    'еe',
    'кk',
    'оo',
    'рp',
    'сc',
    'уy',
    'хx',
    'іi',
    'јj',
    'ѕs',
    'ԁd',
    'ԛq',
    'ԝw',
    'һh',
    'ӏl',
    'АA',
    'ВB',
    'ЕE',
    'КK',
    'МM',
    'НH',
    'ОO',
    'РP',
    'СC',
    'ТT',
    'ХX',
    'УY',
    'ІI',
    'ЈJ',
    'ЅS',
    'ԚQ',
    'ԜW',
    'ҺH',
    'ӀI',
    'αa',
    'οo',
    'ρp',
    'ιi',
    'κk',
    'νv',
    'υu',
    'χx',
    'γy',
    'ωw',
    'ΑA',
    'ΒB',
    'ΕE',
    'ΖZ',
    'ΗH',
    'ΙI',
    'ΚK',
    'ΜM',
    'ΝN',
    'ΟO',
    'ΡP',
    'ΤT',
    'ΥY',
    'ΧX',
  ].map((pair) => [pair.charAt(0), pair.charAt(1)]),
);
const CONFUSABLE_RE = new RegExp(`[${[...CONFUSABLES.keys()].join('')}]`, 'g');
const WORD_RE = /[\p{L}\p{M}]{2,64}/gu;
const LATIN_RE = /\p{Script=Latin}/u;
/* Micro and ohm signs become Greek under NFKC and sit next to Latin units ("10µs", "4.7kΩ"). */
const FOREIGN_LETTER_RE = /[\p{Script=Cyrillic}\p{Script=Greek}]/u;
const FOREIGN_EXCEPT_UNITS_RE = /(?![μΩ])[\p{Script=Cyrillic}\p{Script=Greek}]/u;

function homoglyphVariant(base: Layer, location: Location, signals: SignalSet): Layer | null {
  if (!FOREIGN_LETTER_RE.test(base.text)) return null;
  return rewrite(base, WORD_RE, (word) => {
    if (!LATIN_RE.test(word) || !FOREIGN_EXCEPT_UNITS_RE.test(word)) return null;
    signals.add(MIXED_SCRIPT_WORD, MIXED_SCRIPT_WORD.weight, location, word);
    return word.replace(CONFUSABLE_RE, (ch) => CONFUSABLES.get(ch) ?? ch);
  });
}

const NUMERIC_ENTITY_RE = /&#(\d{1,8}|[xX][0-9a-fA-F]{1,8});?/g;

/** Letters and digits have no reason to be escaped; other escapes (&#39;) are routine in converted text. */
function decodeAlnumEntity(entity: string): string | null {
  const m = /^&#[xX]?([0-9a-fA-F]+)/.exec(entity);
  const digits = m?.[1] ?? '';
  const decoded = /^&#[xX]/.test(entity)
    ? decodeEntity(undefined, digits, undefined)
    : decodeEntity(digits, undefined, undefined);
  return decoded && ALNUM_RE.test(decoded.text) ? decoded.text : null;
}
const PERCENT_RUN_RE = /%[0-9a-f]{2}[%0-9a-f]*/gi;

function decodePercent(run: string): string | null {
  let letters = 0;
  const decoded = run.replace(/%([0-9a-f]{2})/gi, (escape, hex: string) => {
    const code = Number.parseInt(hex, 16);
    if (code >= 0x80) return escape;
    const ch = String.fromCharCode(code);
    if (ALNUM_RE.test(ch)) letters++;
    return ch;
  });
  // URLs escape spaces and punctuation; only escaped letters and digits are there to hide words.
  return letters > 0 ? decoded : null;
}

const BASE64_RUN_RE = /[A-Za-z0-9+/_-]{4,}={0,2}/g;
const BASE64_MIN_LINE = 16;
const BASE64_LOOKING_RE = /[0-9+/=]|.[A-Z]/;
const BASE64_MIN_LENGTH = 40;
const BASE64_MAX_LENGTH = 64 * 1024;

const isPrintable = (byte: number) =>
  (byte >= 0x20 && byte <= 0x7e) || byte === 9 || byte === 10 || byte === 13;

/**
 * Whether at least 90 % of the bytes are printable. Binary is about one third printable, so the count
 * stops at the first byte that makes 90 % unreachable; the slack absorbs a stray word wrapped onto the
 * last line.
 */
function mostlyPrintable(bytes: Buffer): boolean {
  const needed = bytes.length * 0.9;
  let unprintable = 0;
  for (const byte of bytes) {
    if (!isPrintable(byte) && bytes.length - ++unprintable < needed) return false;
  }
  return true;
}

/** Decodes base64 that turns out to be readable text; binary (signatures, images) is left alone. */
function decodeBase64Text(data: string): string | null {
  const blob = data.replace(/=+$/, '').slice(0, BASE64_MAX_LENGTH);
  if (blob.length < BASE64_MIN_LENGTH) return null;
  // A word glued to the front of the blob shifts the 4-character alignment.
  for (let shift = 0; shift < 4; shift++) {
    const bytes = Buffer.from(blob.slice(shift), 'base64');
    if (bytes.includes(0x20) && mostlyPrintable(bytes)) {
      return ` ${bytes.toString('latin1').replace(/[^\x20-\x7e\t\n\r]/g, ' ')} `;
    }
  }
  return null;
}

interface Base64Block {
  start: number;
  end: number;
  lines: string[];
  width: number;
}

function base64Variant(base: Layer): Layer | null {
  const { text } = base;
  const replacements: Replacement[] = [];
  let block: Base64Block | null = null;
  const finish = () => {
    const decoded = block && decodeBase64Text(block.lines.join(''));
    if (block && decoded) replacements.push({ start: block.start, end: block.end, text: decoded });
  };
  for (const m of text.matchAll(BASE64_RUN_RE)) {
    const run = m[0];
    const end = m.index + run.length;
    const gap = block && m.index - block.end <= 2 ? text.slice(block.end, m.index) : '';
    const last = block?.lines[block.lines.length - 1] ?? '';
    // MIME and PGP wrap base64 at a fixed width: a blob goes on while each line is full and whole, and
    // a plain word on the next line ("Thanks") is not taken for its tail.
    const continues =
      block !== null &&
      (gap === '\n' || gap === '\r\n') &&
      (block.lines.length === 1 || last.length === block.width) &&
      !last.endsWith('=') &&
      (end === text.length || text[end] === '\n' || text[end] === '\r') &&
      BASE64_LOOKING_RE.test(run);
    if (block && continues) {
      block.end = end;
      block.lines.push(run);
      block.width = Math.max(block.width, run.length);
    } else {
      finish();
      block = run.length >= BASE64_MIN_LINE ? { start: m.index, end, lines: [run], width: run.length } : null;
    }
  }
  finish();
  return applyReplacements(base, replacements);
}

function evasionVariants(base: Layer, location: Location, signals: SignalSet): [Layer | null, RuleDef][] {
  return [
    [rewrite(base, SPACED_LETTERS_RE, (run) => run.replace(/[^a-z]/gi, '')), SPACED_LETTERS],
    [leetVariant(base), LEETSPEAK],
    [homoglyphVariant(base, location, signals), HOMOGLYPH_OBFUSCATION],
    [
      base.text.includes('&#') ? rewrite(base, NUMERIC_ENTITY_RE, decodeAlnumEntity) : null,
      ENTITY_OBFUSCATION,
    ],
    [base.text.includes('%') ? rewrite(base, PERCENT_RUN_RE, decodePercent) : null, PERCENT_ENCODING],
    [base64Variant(base), BASE64_INSTRUCTIONS],
  ];
}

// ---------------------------------------------------------------------------------------------------------
// Analysis of one field

interface Doc {
  location: Location;
  /** Where invisible characters are looked for: the field before normalisation, or the rendered HTML. */
  raw: string;
  root: Layer;
  hidden: readonly HiddenRegion[];
  entityLetters: readonly Span[];
}

function overlapping<T extends Span>(spans: readonly T[], start: number, end: number): T[] {
  const found: T[] = [];
  for (let i = countWhile(spans, (s) => s.end <= start); i < spans.length; i++) {
    const span = spans[i] as T;
    if (span.start >= end) break;
    found.push(span);
  }
  return found;
}

/*
 * A negation governs a request only when it stands right before the verb (at most three words between, same
 * clause): "do not send the key" is no request, but in "Don't worry, just send me the key" the "n't"
 * belongs to another verb and must not cancel the one that follows.
 */
const NEGATION_RE = /(?:\b(?:never|not|nobody|no\s+one)|n['’]t)\s+(?:[\p{L}’']+\s+){0,3}$/iu;
/* The writer's own commitment ("I'll generate a new key for you"), with at most two words before the verb. */
const FIRST_PERSON_RE =
  /(?:\b(?:i|we)(?:['’]ll|['’]d|\s+will|\s+would|\s+shall|\s+can|\s+could|\s+am\s+going\s+to|\s+are\s+going\s+to|\s+plan\s+to|\s+have\s+to|\s+need\s+to|\s+want\s+to)|\blet\s+me)\s+(?:[a-z]+\s+){0,2}$/i;
const SENTENCE_CONTEXT = 160;
const SENTENCE_END_RE = /[.!?\n]/;

/** Text from the start of the sentence up to `start`, at most SENTENCE_CONTEXT characters. */
function sentenceBefore(text: string, start: number): string {
  const before = text.slice(Math.max(0, start - SENTENCE_CONTEXT), start);
  let cut = before.length;
  while (cut > 0 && !SENTENCE_END_RE.test(before.charAt(cut - 1))) cut--;
  return before.slice(cut);
}

/** The sentence holding [start, end), cut to SENTENCE_CONTEXT characters either side. */
function sentenceAround(text: string, start: number, end: number): string {
  const after = text.slice(end, end + SENTENCE_CONTEXT);
  const stop = after.search(SENTENCE_END_RE);
  return sentenceBefore(text, start) + text.slice(start, end) + (stop < 0 ? after : after.slice(0, stop));
}

const notARequest = (prefix: string): boolean => NEGATION_RE.test(prefix) || FIRST_PERSON_RE.test(prefix);

const NOT_ASCII_WORD_RE = /\W+/;
const NON_ASCII_RE = /[\u0080-\uffff]+/g;

/** The text's ASCII words (`\w` runs, as `\b` delimits them without the `u` flag), lowercased. */
function wordsOf(text: string): Set<string> {
  // Other characters separate words anyway, and lowercasing could turn some (the Kelvin sign) into letters.
  return new Set(text.replace(NON_ASCII_RE, ' ').toLowerCase().split(NOT_ASCII_WORD_RE));
}

const isAsciiWordChar = (code: number) =>
  (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || code === 95 || (code >= 97 && code <= 122);

function holdsAny(words: ReadonlySet<string>, wanted: ReadonlySet<string>): boolean {
  for (const word of wanted) if (words.has(word)) return true;
  return false;
}

/** The match after `previous` of a global pattern, stepping past empty matches as matchAll does. */
function nextMatch(pattern: RegExp, text: string, previous: RegExpExecArray): RegExpExecArray | null {
  if (previous[0] === '') pattern.lastIndex = advance(text, pattern.lastIndex, pattern.unicode);
  return pattern.exec(text);
}

function advance(text: string, index: number, unicode: boolean): number {
  if (!unicode || index + 1 >= text.length) return index + 1;
  const code = text.charCodeAt(index);
  return code >= 0xd800 && code <= 0xdbff && (text.charCodeAt(index + 1) & 0xfc00) === 0xdc00
    ? index + 2
    : index + 1;
}

function scanContent(
  doc: Doc,
  layer: Layer,
  changedOnly: boolean,
  evasion: RuleDef | null,
  signals: SignalSet,
  instructive: Set<number>,
): void {
  const traceToRoot = doc.hidden.length > 0 || doc.entityLetters.length > 0;
  const words = layer.words();
  for (const content of CONTENT_RULES) {
    if (content.literal !== undefined && !layer.text.includes(content.literal)) continue;
    if (content.words?.some((wanted) => !holdsAny(words, wanted))) continue;
    const from = content.hint ? (content.hint.exec(layer.text)?.index ?? -1) : 0;
    if (from < 0) continue;
    // exec on the rule's own pattern: matchAll would clone the regex for every rule and layer.
    const { pattern } = content;
    pattern.lastIndex = from;
    for (let m = pattern.exec(layer.text); m !== null; m = nextMatch(pattern, layer.text, m)) {
      const start = m.index;
      const end = start + m[0].length;
      if (changedOnly && !layer.touchesEdit(start, end)) continue;
      if (content.negatable && NEGATION_RE.test(layer.text.slice(Math.max(0, start - 48), start))) continue;
      if (content.request && notARequest(sentenceBefore(layer.text, start))) continue;
      if (content.unless?.test(sentenceAround(layer.text, start, end))) continue;
      if (evasion && layer.parent) {
        const original = layer.parent.text.slice(layer.toParent(start, 'start'), layer.toParent(end, 'end'));
        // The rule matched what was written too ("add a@b.example to …" read as "add aab.example"): no evasion.
        if (original.search(content.pattern) >= 0) continue;
        signals.add(content, content.weight, doc.location, m[0]);
        signals.add(evasion, evasion.weight, doc.location, original);
      } else signals.add(content, content.weight, doc.location, m[0]);
      if (!traceToRoot) break;
      const rootStart = layer.toRoot(start, 'start');
      const rootEnd = layer.toRoot(end, 'end');
      for (const region of overlapping(doc.hidden, rootStart, rootEnd)) {
        instructive.add(region.owner);
        const def = HIDDEN_RULES[region.rule];
        signals.add(def, def.weight, doc.location, m[0]);
      }
      if (overlapping(doc.entityLetters, rootStart, rootEnd).length > 0) {
        signals.add(ENTITY_OBFUSCATION, ENTITY_OBFUSCATION.weight, doc.location, m[0]);
      }
    }
  }
}

function reportLongHiddenText(doc: Doc, instructive: Set<number>, signals: SignalSet): void {
  const letters = new Map<number, number>();
  for (const region of doc.hidden) {
    if (region.rule === 'html_comment_instructions' || instructive.has(region.owner)) continue;
    const count = doc.root.text.slice(region.start, region.end).match(/[\p{L}\p{N}]/gu)?.length ?? 0;
    const total = (letters.get(region.owner) ?? 0) + count;
    letters.set(region.owner, total);
    if (total > HIDDEN_LONG_CHARS) {
      signals.add(
        HIDDEN_RULES[region.rule],
        HIDDEN_LONG_WEIGHT,
        doc.location,
        doc.root.text.slice(region.start, region.end),
      );
    }
  }
}

function analyse(doc: Doc, signals: SignalSet): void {
  detectInvisible(doc.raw, doc.location, signals);
  const clean = rewrite(doc.root, CLEAN_RE, cleanInvisible) ?? doc.root;
  const base = rewrite(clean, ZERO_WIDTH_RE, () => '') ?? clean;
  const instructive = new Set<number>();
  scanContent(doc, base, false, null, signals, instructive);
  // Zero-width characters can stand in for spaces as well as split words; try the other reading too.
  const spaced = rewrite(clean, ZERO_WIDTH_RE, () => ' ');
  if (spaced) scanContent(doc, spaced, true, null, signals, instructive);
  for (const [variant, evasion] of evasionVariants(base, doc.location, signals)) {
    if (variant) scanContent(doc, variant, true, evasion, signals, instructive);
  }
  reportLongHiddenText(doc, instructive, signals);
}

const asText = (value: unknown): string => (typeof value === 'string' ? value.slice(0, FIELD_CAP) : '');

function plainDoc(location: Location, raw: string): Doc {
  return {
    location,
    raw,
    root: new Layer(raw.normalize('NFKC').slice(0, FIELD_CAP)),
    hidden: [],
    entityLetters: [],
  };
}

export function scoreInjection(input: {
  subject: string;
  text: string;
  html: string | null;
  attachmentNames: string[];
}): InjectionRisk {
  const fields: Partial<typeof input> = input ?? {};
  const signals = new SignalSet();
  analyse(plainDoc('subject', asText(fields.subject)), signals);
  analyse(plainDoc('text', asText(fields.text)), signals);
  const html = asText(fields.html);
  if (html) {
    const extracted = extractHtml(html);
    analyse(
      {
        location: 'html',
        // Entities are decoded by then, so `&zwnj;` counts like the character itself.
        raw: extracted.text,
        root: new Layer(extracted.text),
        hidden: extracted.hidden,
        entityLetters: extracted.entityLetters,
      },
      signals,
    );
  }
  const names = Array.isArray(fields.attachmentNames) ? fields.attachmentNames : [];
  // Names use underscores and dots where prose uses spaces.
  const joined = names
    .map((name) => asText(name).slice(0, ATTACHMENT_NAME_CAP).replace(/_/g, ' '))
    .join('\n')
    .slice(0, FIELD_CAP);
  if (joined.trim()) analyse(plainDoc('attachment_name', joined), signals);
  return signals.risk();
}
