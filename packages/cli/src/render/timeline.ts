import type { GatehouseEvent } from '@gatehouse/events';
import type { DecisionChange } from '@gatehouse/query-api';
import type { Palette } from './palette.js';

/**
 * One line per event of a replayed session: seq, time, what happened, the decision and outcome.
 * With `changes` (what-if), calls another policy would decide differently are flagged beneath.
 */
export function renderTimeline(
  events: readonly GatehouseEvent[],
  c: Palette,
  changes: readonly DecisionChange[] = [],
): string {
  const bySeq = new Map(changes.map((change) => [change.seq, change]));
  const width = String(events.at(-1)?.seq ?? 0).length;
  const lines: string[] = [];
  let previous: GatehouseEvent | undefined;
  for (const event of events) {
    lines.push(
      `${c.dim(String(event.seq).padStart(width))}  ${c.dim(event.ts.slice(11, 23))}  ${describe(event, c, previous)}`,
    );
    const change = bySeq.get(event.seq);
    if (change !== undefined) {
      const verdict = change.would.allowed ? c.green('ALLOWED') : c.red('DENIED');
      lines.push(
        `${' '.repeat(width)}  ${c.yellow('what-if')}       would be ${verdict} (${change.would.rule})`,
      );
    }
    previous = event;
  }
  return lines.join('\n');
}

function describe(event: GatehouseEvent, c: Palette, previous: GatehouseEvent | undefined): string {
  switch (event.type) {
    case 'session.started':
      return `${c.cyan('session started')}  ${event.agent ?? '?'}${event.user !== null && event.user !== event.agent ? ` for ${event.user}` : ''}${event.data.client_name ? c.dim(` (${event.data.client_name} ${event.data.client_version ?? ''})`) : ''}`;
    case 'session.ended':
      return `${c.cyan('session ended')}    ${c.dim(event.data.reason)}`;
    case 'tools.listed':
      return `tools listed     ${c.dim(`${event.data.tools.length} shown`)}`;
    case 'call.attempted':
      return `call ${c.bold(event.tool ?? '?')}  ${event.decision?.allowed ? c.green('allowed') : c.red('denied')} ${c.dim(event.decision?.rule ?? '')}`;
    case 'call.denied':
      // Refused outright, the call has no call.attempted before it: name the tool and the rule here.
      if (previous?.type === 'call.attempted' && previous.request_id === event.request_id) {
        return `  ${c.red('✗ refused')}      upstream not contacted`;
      }
      return `call ${c.bold(event.tool ?? '?')}  ${c.red('denied')} ${c.dim(event.decision?.rule ?? '')}  ${c.dim('(upstream not contacted)')}`;
    case 'call.completed':
      return `  ${event.outcome?.status === 'ok' ? c.green('✓ completed') : c.yellow(`! ${event.outcome?.status ?? 'error'}`)}    ${c.dim(`${event.outcome?.latency_ms ?? '?'} ms, ${event.outcome?.result_bytes ?? 0} bytes`)}`;
    case 'call.failed':
      return `  ${c.red(`✗ ${event.outcome?.status ?? 'failed'}`)}  ${c.dim(event.outcome?.error ?? '')}`;
    case 'auth.rejected':
      return `${c.red('auth rejected')}    ${event.data.reason}`;
    case 'policy.published':
      return `policy published ${event.data.version.slice(0, 12)}`;
    case 'catalog.published':
      return `catalog published ${event.server ?? ''} (${event.data.tools.length} tools)`;
    case 'checkpoint.signed':
      return `checkpoint signed (${event.data.heads.length} heads)`;
    case 'query.executed':
      return `query ${event.data.endpoint} → ${event.data.status}`;
    default: {
      const never: never = event;
      return String((never as GatehouseEvent).type);
    }
  }
}
