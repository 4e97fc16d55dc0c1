import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Migrations are plain .sql files imported as text (tsup does the same with its text loader).
const sqlAsText = {
  name: 'sql-as-text',
  load(id: string) {
    if (!id.endsWith('.sql')) return null;
    return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
  },
};

export default defineConfig({
  plugins: [sqlAsText],
  test: {
    projects: [
      {
        plugins: [sqlAsText],
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], sequence: { groupOrder: 0 } },
      },
      {
        plugins: [sqlAsText],
        test: {
          name: 'integration',
          include: [
            'test/integration/**/*.test.ts',
            'test/e2e/**/*.test.ts',
            'test/reliability/**/*.test.ts',
            'test/browser/**/*.test.ts',
          ],
          pool: 'forks',
          sequence: { groupOrder: 1 },
          maxWorkers: 2,
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
    ],
  },
});
