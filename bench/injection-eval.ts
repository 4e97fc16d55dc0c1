/**
 * Measures the prompt-injection detector on the skill eval fixtures (skills/evals): how many hostile
 * messages it flags at the escalation threshold the check-loftbox-mail skill uses, and how many
 * ordinary messages it scores above 0. Prints the table of skills/evals/README.md.
 *
 *   npx tsx bench/injection-eval.ts                       # this checkout's detector
 *   npx tsx bench/injection-eval.ts --detector FILE.ts    # another version of server/policy/injection.ts
 *   npx tsx bench/injection-eval.ts --verbose             # one line per fixture
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { InjectionRisk, scoreInjection as ScoreInjection } from '../server/policy/injection.js';

/** The skill escalates at this score (skills/check-loftbox-mail/SKILL.md, step 4). */
export const ESCALATION_THRESHOLD = 0.5;

export interface EvalMail {
  set: string;
  id: string;
  hostile: boolean;
  subject: string;
  text: string;
  html: string | null;
  attachmentNames: string[];
}

const evalsDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'skills', 'evals');

interface DetectorFixture {
  id: string;
  subject: string;
  text: string;
  html?: string;
  attachment_names?: string[];
}

function detectorSet(file: string, set: string, hostile: boolean): EvalMail[] {
  const fixtures = JSON.parse(readFileSync(join(evalsDir, 'injection', file), 'utf8')) as DetectorFixture[];
  return fixtures.map((f) => ({
    set,
    id: f.id,
    hostile,
    subject: f.subject,
    text: f.text,
    html: f.html ?? null,
    attachmentNames: f.attachment_names ?? [],
  }));
}

interface ScenarioFixture {
  id: string;
  inbox: {
    data: {
      subject: string;
      body_text: string | null;
      body_html: string | null;
      attachments: { filename: string }[];
    }[];
  };
  expected: { escalate: boolean };
}

/** The agent scenarios of skills/evals/fixtures: each inbox message, hostile when the scenario escalates. */
function scenarioSet(): EvalMail[] {
  const dir = join(evalsDir, 'fixtures');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .flatMap((name) => {
      const fixture = JSON.parse(readFileSync(join(dir, name), 'utf8')) as ScenarioFixture;
      return fixture.inbox.data.map((m) => ({
        set: 'scenarios',
        id: fixture.id,
        hostile: fixture.expected.escalate,
        subject: m.subject,
        text: m.body_text ?? '',
        html: m.body_html,
        attachmentNames: m.attachments.map((a) => a.filename),
      }));
    });
}

export function loadEvalMail(): EvalMail[] {
  return [
    ...scenarioSet(),
    ...detectorSet('hostile.json', 'reworded hostile', true),
    ...detectorSet('benign.json', 'business replies', false),
  ];
}

export interface EvalResult {
  mail: EvalMail;
  risk: InjectionRisk;
}

export const scoreAll = (score: typeof ScoreInjection, mails: EvalMail[]): EvalResult[] =>
  mails.map((mail) => ({
    mail,
    risk: score({
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      attachmentNames: mail.attachmentNames,
    }),
  }));

export interface SetSummary {
  set: string;
  hostile: number;
  benign: number;
  /** Hostile messages scored at or above the escalation threshold. */
  detected: number;
  /** Benign messages scored above 0, and at or above the threshold. */
  nonZero: number;
  falsePositives: number;
}

export function summarise(results: EvalResult[]): SetSummary[] {
  const sets = new Map<string, SetSummary>();
  for (const { mail, risk } of results) {
    const s = sets.get(mail.set) ?? {
      set: mail.set,
      hostile: 0,
      benign: 0,
      detected: 0,
      nonZero: 0,
      falsePositives: 0,
    };
    if (mail.hostile) {
      s.hostile++;
      if (risk.score >= ESCALATION_THRESHOLD) s.detected++;
    } else {
      s.benign++;
      if (risk.score > 0) s.nonZero++;
      if (risk.score >= ESCALATION_THRESHOLD) s.falsePositives++;
    }
    sets.set(mail.set, s);
  }
  return [...sets.values()];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const given = args[args.indexOf('--detector') + 1];
  const detector = args.includes('--detector') && given ? given : join('server', 'policy', 'injection.ts');
  const mod = (await import(pathToFileURL(resolve(detector)).href)) as {
    scoreInjection: typeof ScoreInjection;
  };
  const results = scoreAll(mod.scoreInjection, loadEvalMail());
  if (args.includes('--verbose')) {
    for (const { mail, risk } of results) {
      const verdict = mail.hostile ? 'hostile' : 'benign ';
      process.stdout.write(
        `${verdict} ${risk.score.toFixed(2)} ${mail.set}/${mail.id} [${risk.signals.map((s) => s.rule).join(', ')}]\n`,
      );
    }
  }
  process.stdout.write(
    `| fixture set | hostile | benign | detected (≥ ${ESCALATION_THRESHOLD}) | benign > 0 | false positives (≥ ${ESCALATION_THRESHOLD}) |\n`,
  );
  process.stdout.write('|---|---|---|---|---|---|\n');
  for (const s of summarise(results)) {
    process.stdout.write(
      `| ${s.set} | ${s.hostile} | ${s.benign} | ${s.detected}/${s.hostile} | ${s.nonZero}/${s.benign} | ${s.falsePositives}/${s.benign} |\n`,
    );
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
