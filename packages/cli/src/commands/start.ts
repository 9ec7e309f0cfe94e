import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { readSettings } from '../settings.js';

/** `gatehouse start`: the whole product in one process (embedded mode), until SIGINT/SIGTERM. */
export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('run authserver, gateway, projector and query API in one process (embedded mode)')
    .action(async () => {
      const settings = readSettings();
      const config = await loadConfig(settings.configPath);
      // The stack (gateway, authserver, projector, query API) is loaded by the command that runs it.
      const { startStack } = await import('../stack.js');
      const stack = await startStack({
        settings,
        config,
        progress: (line) => console.error(`gatehouse: ${line}`),
      });
      console.error(banner(stack.urls));
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        console.error(`gatehouse: ${signal} received, stopping`);
        void stack.close().then(() => process.exit(0));
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });
}

function banner(urls: { mcp: string; query: string; auth: string | undefined }): string {
  return `
Gatehouse is running.
  MCP endpoint   ${urls.mcp}        (OAuth 2.1: 401 → ${urls.mcp.replace(/\/mcp$/, '')}/.well-known/oauth-protected-resource)
  query API      ${urls.query}      (OpenAPI: ${urls.query}/openapi.json)
  authserver     ${urls.auth ?? '(external issuer)'}

Get a token and connect:
  TOKEN=$(npx gatehouse token --client support-bot --user alice)
  curl -s -X POST ${urls.mcp} -H "Authorization: Bearer $TOKEN" \\
       -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \\
       -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
  or point any MCP client with OAuth support at ${urls.mcp} (it discovers the authserver from the 401).

Ask what happened:
  npx gatehouse can support-bot --user alice
  npx gatehouse did support-bot --when "past 2 hours"
  npm run demo        # the support-desk scenario
`;
}
