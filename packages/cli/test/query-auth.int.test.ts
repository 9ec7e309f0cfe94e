import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthServer, getDevAccessToken, type AuthServer } from '@gatehouse/authserver';
import { createQueryApi, type QueryApi, type SessionsAnswer } from '@gatehouse/query-api';
import { registerSessionsCommand } from '../src/commands/sessions.js';
import {
  compile,
  createMemoryLog,
  openStoreFixture,
  publishedPolicy,
  type StoreFixture,
} from '../../../services/query-api/test/fixtures.js';

const QUERY_RESOURCE = 'http://localhost:7421';
const GATEWAY_RESOURCE = 'http://localhost:7420/mcp';
const clients = [
  { clientId: 'analyst', clientSecret: 'dev-secret-analyst', scopes: ['audit:read'] },
  { clientId: 'support-bot', clientSecret: 'dev-secret-support-bot', scopes: ['mcp:tools'] },
];

let fixture: StoreFixture;
let authServer: AuthServer;
let api: QueryApi;
let url: string;

beforeAll(async () => {
  fixture = await openStoreFixture();
  authServer = await createAuthServer({
    config: { issuer: 'http://127.0.0.1:7422', clients, users: ['alice'] },
    resource: [GATEWAY_RESOURCE, QUERY_RESOURCE],
    port: 0,
    dataDir: fixture.dir,
  });
  api = await createQueryApi({
    store: fixture.store,
    log: createMemoryLog(),
    policy: await compile(await publishedPolicy([['agent:support-bot', 'support__*', 'allow']])),
    compilePolicy: compile,
    // No jwks: the API discovers the issuer's JWKS from its metadata, as in production.
    auth: { issuer: authServer.issuer, audience: QUERY_RESOURCE, requiredScopes: ['audit:read'] },
  });
  url = await api.listen({ port: 0 });
}, 120_000);

afterAll(async () => {
  await api?.close();
  await authServer?.close();
  await fixture?.cleanup();
});

const token = (clientId: string, resource: string, scope: string) =>
  getDevAccessToken({
    issuer: authServer.issuer,
    clientId,
    clientSecret: clients.find((c) => c.clientId === clientId)!.clientSecret,
    resource,
    scope,
  });

const ask = (bearer: string) =>
  fetch(`${url}/v1/sessions`, { headers: { authorization: `Bearer ${bearer}` } });

describe('the query API with tokens from the development authserver', () => {
  it('answers the analyst holding audit:read for the query API resource', async () => {
    const response = await ask(await token('analyst', QUERY_RESOURCE, 'audit:read'));
    expect(response.status).toBe(200);
    expect(((await response.json()) as SessionsAnswer).sessions).toEqual([]);
  });

  it("refuses the analyst's token minted for the gateway (wrong audience): 401", async () => {
    const response = await ask(await token('analyst', GATEWAY_RESOURCE, 'audit:read'));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('refuses an agent token without audit:read: 403 insufficient_scope', async () => {
    const response = await ask(await token('support-bot', QUERY_RESOURCE, 'mcp:tools'));
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: 'insufficient_scope' });
  });

  it('lets the CLI obtain an analyst token itself from the configured authserver when none is given', async () => {
    const config = (
      await readFile(
        path.resolve(import.meta.dirname, '../../../examples/support-desk/gatehouse.yaml'),
        'utf8',
      )
    ).replaceAll('issuer: http://localhost:7422', `issuer: ${authServer.issuer}`);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gh-cli-config-'));
    const configPath = path.join(dir, 'gatehouse.yaml');
    await writeFile(configPath, config);
    let out = '';
    const program = new Command('gatehouse').exitOverride();
    registerSessionsCommand(program, {
      out: { write: (text: string) => (out += text) },
      env: { GATEHOUSE_CONFIG: configPath },
    });
    await program.parseAsync(['node', 'gatehouse', 'sessions', '--api', url, '--json']);
    await rm(dir, { recursive: true, force: true });
    expect(JSON.parse(out)).toEqual({ sessions: [] });
  });
});
