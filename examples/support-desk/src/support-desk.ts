import { appendFileSync } from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { seedCustomers, seedTickets, type Customer, type Ticket } from './desk-data.js';

/** The six tools the support desk offers, in the order it lists them. */
export const SUPPORT_DESK_TOOLS = [
  'list_open_tickets',
  'read_ticket',
  'draft_reply',
  'issue_refund',
  'close_account',
  'export_customers',
] as const;
export type SupportDeskTool = (typeof SUPPORT_DESK_TOOLS)[number];

/** One line of the call record: what reached the server, before it acted on it. */
export interface RecordedCall {
  /** ISO 8601, UTC, ms. */
  ts: string;
  tool: SupportDeskTool;
  arguments: Record<string, unknown>;
}

export interface SupportDeskOptions {
  /**
   * File that receives one JSON line ({@link RecordedCall}) per tool call, written synchronously
   * before the tool runs — so a test can prove that a call never reached the server. Default:
   * `process.env.SUPPORT_DESK_RECORD`, or no recording.
   */
  recordFile?: string;
  /** Called with every received call (in-process tests). */
  onCall?: (call: RecordedCall) => void;
}

/** Largest refund the desk issues without a manager (cents). */
const MAX_REFUND_CENTS = 50_000;

/**
 * Builds a support-desk MCP server (not yet connected). Each instance owns its own copy of the
 * data, so refunds, drafts and closures made through one instance are visible only there.
 * Serve it over stdio (`server.ts`) or connect it to any transport (tests use Streamable HTTP).
 */
export function createSupportDeskServer(options: SupportDeskOptions = {}): McpServer {
  const recordFile = options.recordFile ?? process.env.SUPPORT_DESK_RECORD;
  const customers = seedCustomers();
  const tickets = seedTickets();
  const drafts: { id: string; ticketId: string; body: string }[] = [];
  const refunds: { id: string; customerId: string; amountCents: number; reason: string }[] = [];

  const server = new McpServer({ name: 'support-desk', version: '0.1.0' }, { capabilities: { tools: {} } });

  const record = (tool: SupportDeskTool, args: Record<string, unknown>): void => {
    const call: RecordedCall = { ts: new Date().toISOString(), tool, arguments: args };
    if (recordFile) appendFileSync(recordFile, `${JSON.stringify(call)}\n`);
    options.onCall?.(call);
  };
  const findCustomer = (id: string): Customer | undefined => customers.find((c) => c.id === id);
  const findTicket = (id: string): Ticket | undefined => tickets.find((t) => t.id === id);

  server.registerTool(
    'list_open_tickets',
    {
      title: 'List open tickets',
      description: 'Lists tickets that are open or pending, newest first.',
      inputSchema: {
        limit: z.number().int().min(1).max(50).optional().describe('Maximum number of tickets (default 20)'),
      },
      annotations: { readOnlyHint: true },
    },
    async (args) => {
      record('list_open_tickets', args);
      const open = tickets
        .filter((t) => t.status !== 'solved')
        .sort((a, b) => b.openedAt.localeCompare(a.openedAt))
        .slice(0, args.limit ?? 20)
        .map((t) => ({
          id: t.id,
          subject: t.subject,
          status: t.status,
          customer: findCustomer(t.customerId)?.name ?? null,
          opened_at: t.openedAt,
        }));
      return json({ tickets: open });
    },
  );

  server.registerTool(
    'read_ticket',
    {
      title: 'Read a ticket',
      description: 'Returns one ticket with its full body and the customer it belongs to.',
      inputSchema: { ticket_id: z.string().describe('Ticket id, e.g. T-1001') },
      annotations: { readOnlyHint: true },
    },
    async (args) => {
      record('read_ticket', args);
      const ticket = findTicket(args.ticket_id);
      if (!ticket) return failure(`no ticket with id ${args.ticket_id}`);
      const customer = findCustomer(ticket.customerId);
      return json({
        id: ticket.id,
        subject: ticket.subject,
        body: ticket.body,
        status: ticket.status,
        opened_at: ticket.openedAt,
        customer: customer ? { id: customer.id, name: customer.name, plan: customer.plan } : null,
      });
    },
  );

  server.registerTool(
    'draft_reply',
    {
      title: 'Draft a reply',
      description: 'Saves a draft reply on a ticket for a human to review; nothing is sent.',
      inputSchema: { ticket_id: z.string(), body: z.string().min(1).max(10_000) },
    },
    async (args) => {
      record('draft_reply', args);
      if (!findTicket(args.ticket_id)) return failure(`no ticket with id ${args.ticket_id}`);
      const draft = { id: `D-${2001 + drafts.length}`, ticketId: args.ticket_id, body: args.body };
      drafts.push(draft);
      return json({ draft_id: draft.id, ticket_id: draft.ticketId, status: 'draft' });
    },
  );

  server.registerTool(
    'issue_refund',
    {
      title: 'Issue a refund',
      description: `Refunds a customer (at most ${MAX_REFUND_CENTS} cents per refund).`,
      inputSchema: {
        customer_id: z.string(),
        amount_cents: z.number().int().positive(),
        reason: z.string().min(1),
      },
      annotations: { destructiveHint: true },
    },
    async (args) => {
      record('issue_refund', args);
      if (!findCustomer(args.customer_id)) return failure(`no customer with id ${args.customer_id}`);
      if (args.amount_cents > MAX_REFUND_CENTS)
        return failure(`refunds above ${MAX_REFUND_CENTS} cents need a manager`);
      const refund = {
        id: `R-${3001 + refunds.length}`,
        customerId: args.customer_id,
        amountCents: args.amount_cents,
        reason: args.reason,
      };
      refunds.push(refund);
      return json({
        refund_id: refund.id,
        customer_id: refund.customerId,
        amount_cents: refund.amountCents,
        status: 'issued',
      });
    },
  );

  server.registerTool(
    'close_account',
    {
      title: 'Close an account',
      description: 'Closes a customer account permanently.',
      inputSchema: { customer_id: z.string(), reason: z.string().min(1) },
      annotations: { destructiveHint: true },
    },
    async (args) => {
      record('close_account', args);
      const customer = findCustomer(args.customer_id);
      if (!customer) return failure(`no customer with id ${args.customer_id}`);
      customer.status = 'closed';
      return json({ customer_id: customer.id, status: customer.status });
    },
  );

  server.registerTool(
    'export_customers',
    {
      title: 'Export customers',
      description: 'Exports the full customer table, including email addresses.',
      inputSchema: { format: z.enum(['json', 'csv']).optional().describe('Output format (default json)') },
      annotations: { readOnlyHint: true },
    },
    async (args) => {
      record('export_customers', args);
      if (args.format === 'csv') {
        const lines = ['id,name,email,plan,lifetime_value_cents,status'];
        for (const c of customers)
          lines.push([c.id, c.name, c.email, c.plan, c.lifetimeValueCents, c.status].join(','));
        return { content: [{ type: 'text', text: lines.join('\n') }] };
      }
      return json({ customers });
    },
  );

  return server;
}

function json(value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }] };
}

function failure(message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true };
}
