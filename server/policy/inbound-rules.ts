import type { InboundRuleRow } from '../db/repos/inbound-rules.js';

function matches(rule: InboundRuleRow, sender: string): boolean {
  if (sender === '') return false;
  if (rule.pattern_type === 'address') return sender === rule.pattern;
  const domain = sender.slice(sender.lastIndexOf('@') + 1);
  // A domain rule covers its subdomains too: blocking example.com also blocks mail.example.com.
  return domain === rule.pattern || domain.endsWith(`.${rule.pattern}`);
}

/**
 * CONTRACT §3 inbound rules, on the envelope sender (never the spoofable From:): a matching block rule
 * refuses; any allow rule in scope turns the rules into an allow list.
 */
export function senderAllowed(rules: InboundRuleRow[], envelopeSender: string): boolean {
  const sender = envelopeSender.toLowerCase();
  if (rules.some((r) => r.rule_type === 'block' && matches(r, sender))) return false;
  const allows = rules.filter((r) => r.rule_type === 'allow');
  return allows.length === 0 || allows.some((r) => matches(r, sender));
}
