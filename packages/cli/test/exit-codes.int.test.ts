import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const GATEHOUSE = path.resolve(import.meta.dirname, '../bin/gatehouse.js');

/** Runs the real `gatehouse` entry with `args`; never rejects. */
async function gatehouse(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [GATEHOUSE, ...args], {
      env: { ...process.env, GATEHOUSE_TOKEN: '' },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/**
 * Exit codes of the command line (README): 0 answered, 1 only for answers that are failures in
 * themselves (`verify` found a broken chain), 2 for every error — a command line commander
 * refuses included, so that a script cannot take a typo for a broken chain.
 */
describe.concurrent('gatehouse exit codes', () => {
  it.each([
    ['a missing argument', ['can'], /missing required argument 'agent'/],
    ['a missing required option', ['token'], /required option '--client <id>' not specified/],
    [
      'an option missing its value',
      ['can', 'support-bot', '--user'],
      /option '--user <user>' argument missing/,
    ],
    ['an unknown option', ['can', 'support-bot', '--bogus'], /unknown option '--bogus'/],
    ['an unknown command', ['nope'], /unknown command 'nope'/],
    ['too many arguments', ['verify', 'a', 'b'], /too many arguments for 'verify'/],
    ['no command at all', [], /Usage: gatehouse/],
  ])('exits 2 for %s, saying what is wrong', async (_what, args, message) => {
    const result = await gatehouse(...args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('exits 0 for --help, and for help on a command', async () => {
    const top = await gatehouse('--help');
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Usage: gatehouse/);
    const command = await gatehouse('help', 'rebuild');
    expect(command.code).toBe(0);
    expect(command.stdout).toMatch(/Usage: gatehouse rebuild/);
  });

  it('exits 0 for --version, printing the version of the package', async () => {
    const manifest = JSON.parse(
      await readFile(path.resolve(import.meta.dirname, '../package.json'), 'utf8'),
    ) as { version: string };
    const result = await gatehouse('--version');
    expect(result).toMatchObject({ code: 0, stdout: `${manifest.version}\n` });
  });
});
