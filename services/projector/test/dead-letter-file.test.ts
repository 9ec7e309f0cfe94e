import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeadLetterFile, type DeadLetter } from '../src/index.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function fileIn(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-dead-letter-file-'));
  dirs.push(dir);
  return path.join(dir, 'projector', 'dead-letter.jsonl');
}

const letter = (offset: string, value: string): DeadLetter => ({
  source: 'gatehouse.audit',
  partition: 0,
  offset,
  reason: 'invalid_record',
  error: 'not JSON',
  eventId: null,
  key: 's1',
  value: Buffer.from(value),
});

const lines = async (file: string) =>
  (await readFile(file, 'utf8'))
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as { offset: string; value_base64: string });

describe('DeadLetterFile', () => {
  it('writes a record once, and another record at a position already in the file (a topic created again)', async () => {
    const file = await fileIn();
    const first = new DeadLetterFile(file);
    await first.load();
    await first.write([letter('1', 'old bytes')]);
    await first.write([letter('1', 'old bytes')]);
    // A process that starts again reads the file: the same record is known, a new one at offset 1 is not.
    const again = new DeadLetterFile(file);
    await again.load();
    expect(again.has(letter('1', 'old bytes'))).toBe(true);
    expect(again.has(letter('1', 'new bytes'))).toBe(false);
    await again.write([letter('1', 'new bytes')]);
    expect((await lines(file)).map((l) => Buffer.from(l.value_base64, 'base64').toString())).toEqual([
      'old bytes',
      'new bytes',
    ]);
  });

  it('starts a new line after a line a crash cut short', async () => {
    const file = await fileIn();
    const dead = new DeadLetterFile(file);
    await dead.load();
    await dead.write([letter('1', 'a')]);
    await appendFile(file, '{"at":"2026-11-29T00:00:00.000Z","source":"gatehouse.audit","partit');
    const reopened = new DeadLetterFile(file);
    await reopened.load();
    await reopened.write([letter('2', 'b')]);
    const text = await readFile(file, 'utf8');
    expect(text.split('\n').map((line) => line.slice(0, 12))).toEqual([
      '{"at":"2026-',
      '{"at":"2026-',
      '{"at":"2026-',
      '',
    ]);
    expect(text.split('\n')[1]).not.toMatch(/}$/);
  });

  it('cuts a failed append back off the file, so that the retry writes whole lines', async () => {
    const file = await fileIn();
    let failNext = true;
    const dead = new DeadLetterFile(file, {
      writeText: async (handle, text) => {
        if (!failNext) return void (await handle.writeFile(text));
        failNext = false;
        await handle.writeFile(text.slice(0, 20)); // half a line reached the disk, then ENOSPC
        throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      },
    });
    await dead.load();
    await dead.write([letter('1', 'a')]).catch(() => undefined);
    failNext = true;
    await expect(dead.write([letter('2', 'b')])).rejects.toThrow(`cannot write the dead-letter file ${file}`);
    expect(await readFile(file, 'utf8')).toBe('');
    await dead.write([letter('2', 'b')]);
    expect((await lines(file)).map((l) => l.offset)).toEqual(['2']);
    const reloaded = new DeadLetterFile(file);
    await reloaded.load();
    expect(reloaded.has(letter('2', 'b'))).toBe(true);
  });
});
