import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createSupportDeskServer } from './support-desk.js';

/**
 * Entry point: serves the support desk over stdio (`node --import tsx examples/support-desk/src/server.ts`).
 * Set `SUPPORT_DESK_RECORD=<file>` to append one JSON line per received tool call.
 */
const server = createSupportDeskServer();
await server.connect(new StdioServerTransport());
