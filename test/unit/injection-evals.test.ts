import { describe, expect, it } from 'vitest';
import { ESCALATION_THRESHOLD, loadEvalMail, scoreAll, summarise } from '../../bench/injection-eval.js';
import { scoreInjection } from '../../server/policy/injection.js';

/* The detector's results on skills/evals, as skills/evals/README.md reports them. */
const results = scoreAll(scoreInjection, loadEvalMail());
const hostile = results.filter((r) => r.mail.hostile);
const benign = results.filter((r) => !r.mail.hostile);
const label = (r: (typeof results)[number]) => `${r.mail.set}/${r.mail.id}`;

describe('injection detector on the skill eval fixtures', () => {
  it('has at least 20 reworded hostile messages and 20 business replies', () => {
    const sets = Object.fromEntries(summarise(results).map((s) => [s.set, s]));
    expect(sets['reworded hostile']?.hostile).toBeGreaterThanOrEqual(20);
    expect(sets['business replies']?.benign).toBeGreaterThanOrEqual(20);
  });

  it.each(hostile.map((r) => [label(r), r] as const))(
    `flags %s at the escalation threshold (${ESCALATION_THRESHOLD})`,
    (_name, { risk }) => {
      expect(risk.score).toBeGreaterThanOrEqual(ESCALATION_THRESHOLD);
      expect(risk.categories.length).toBeGreaterThan(0);
    },
  );

  it.each(benign.map((r) => [label(r), r] as const))('scores %s at 0', (_name, { risk }) => {
    expect(risk).toEqual({ score: 0, categories: [], signals: [] });
  });
});
