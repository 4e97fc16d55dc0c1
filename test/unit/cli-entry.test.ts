import { describe, expect, it } from 'vitest';
import { run, type Entries } from '../../cli/main.js';

/** Records which half of the package each command line reaches. */
function recording(): Entries & { reached: string[] } {
  const reached: string[] = [];
  return {
    reached,
    program: () => {
      reached.push('program');
      return Promise.resolve({
        main: (argv: string[]) => {
          reached.push(`cli ${argv.join(' ')}`);
          return Promise.resolve();
        },
      });
    },
    server: (argv: string[]) => {
      reached.push(`server ${argv.join(' ')}`);
      return Promise.resolve();
    },
  };
}

describe('loftbox entry point', () => {
  it('`loftbox server …` starts the server without evaluating the CLI proper', async () => {
    const entries = recording();
    await run(['server', '--dev', '--http-port', '0'], entries);
    expect(entries.reached).toEqual(['server --dev --http-port 0']);
  });

  it('every other command loads the CLI and passes its arguments unchanged', async () => {
    const entries = recording();
    await run(['send', '--to', 'server'], entries);
    await run([], entries);
    expect(entries.reached).toEqual(['program', 'cli send --to server', 'program', 'cli ']);
  });

  it('a server that throws while starting is reported as the server, with the failure exit code', async () => {
    const exitCode = process.exitCode;
    const errors: string[] = [];
    const error = console.error;
    console.error = (line: string) => errors.push(line);
    try {
      await run(['server'], {
        ...recording(),
        server: () => Promise.reject(new Error('port 25 is taken')),
      });
      expect(errors).toEqual(['loftbox server: port 25 is taken']);
      expect(process.exitCode).toBe(1);
    } finally {
      console.error = error;
      process.exitCode = exitCode;
    }
  });
});
