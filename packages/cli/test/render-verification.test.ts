import { describe, expect, it } from 'vitest';
import type { SessionVerification } from '@gatehouse/query-api';
import { renderVerification } from '../src/render/answers.js';
import { createPalette } from '../src/render/palette.js';

const plain = createPalette({ isTTY: false }, {});
const head = { seq: 6, hash: 'a'.repeat(64) };

describe('renderVerification', () => {
  it('names every refused checkpoint and why, under a not-verified verdict', () => {
    const report: SessionVerification = {
      session_id: 'sess-1',
      intact: false,
      anchored: true,
      events: 7,
      head,
      first_bad: null,
      checkpoint: {
        status: 'verified',
        stream: 'checkpoint:a',
        seq: 3,
        kid: 'k'.repeat(16),
        signed_at: '2026-11-23T09:00:00.000Z',
        head,
      },
      rejected_checkpoints: [
        { reason: 'redated', stream: 'checkpoint:a', seq: 1, kid: 'k1', ts: '2026-11-23T10:00:00.000Z' },
        {
          reason: 'invalid_signature',
          stream: 'checkpoint:zz',
          seq: 0,
          kid: 'k1',
          ts: '2027-01-01T00:00:00.000Z',
        },
      ],
    };
    expect(renderVerification(report, plain).split('\n')).toEqual([
      '✘ not verified  sess-1: a checkpoint naming it was forged or altered (below)',
      '  checkpoint verified: signed 2026-11-23T09:00:00.000Z by key kkkkkkkkkkkk, head seq 6 present',
      '  checkpoint checkpoint:a#1 (2026-11-23T10:00:00.000Z) refused: its ts is not when it was signed (moved in time)',
      '  checkpoint checkpoint:zz#0 (2027-01-01T00:00:00.000Z) refused: its signature does not verify',
    ]);
  });
});
