import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const mainFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/main.ts');

describe('ingress main entry', () => {
  it('refuses a LOG_LEVEL pino does not know before it reads or opens anything, naming the variable', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', mainFile], {
      env: { ...process.env, GATEHOUSE_CONFIG: '/nonexistent/gatehouse.yaml', LOG_LEVEL: 'verbose' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(
      'gatehouse ingress: LOG_LEVEL: "verbose" is not one of fatal, error, warn, info, debug, trace, silent\n',
    );
  });
});
