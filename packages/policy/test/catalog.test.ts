import { canonicalJson, eventDataSchemas, sha256Hex } from '@gatehouse/events';
import { describe, expect, it } from 'vitest';
import { catalogPublishedData, catalogVersion, toCatalogTools } from '../src/index.js';

const LISTED = [
  {
    name: 'read_ticket',
    description: 'Read one ticket',
    inputSchema: { type: 'object', properties: { id: { type: 'string' } } },
  },
  { name: 'list_open_tickets', inputSchema: { type: 'object' } },
];

describe('catalog', () => {
  it('namespaces tool names, hashes input schemas canonically and sorts by name', () => {
    expect(toCatalogTools('support', LISTED)).toEqual([
      {
        name: 'support__list_open_tickets',
        description: null,
        input_schema_sha256: sha256Hex('{"type":"object"}'),
      },
      {
        name: 'support__read_ticket',
        description: 'Read one ticket',
        input_schema_sha256: sha256Hex(
          canonicalJson({ properties: { id: { type: 'string' } }, type: 'object' }),
        ),
      },
    ]);
  });

  it('has a version that depends on content, not on listing order or key order', () => {
    const a = toCatalogTools('support', LISTED);
    const b = toCatalogTools('support', [
      { name: 'list_open_tickets', inputSchema: { type: 'object' } },
      {
        inputSchema: { properties: { id: { type: 'string' } }, type: 'object' },
        description: 'Read one ticket',
        name: 'read_ticket',
      },
    ]);
    expect(catalogVersion(b)).toBe(catalogVersion(a));
    expect(catalogVersion([...a].reverse())).toBe(catalogVersion(a));
    const changed = toCatalogTools('support', [
      LISTED[0]!,
      { ...LISTED[1]!, inputSchema: { type: 'object', required: ['x'] } },
    ]);
    expect(catalogVersion(changed)).not.toBe(catalogVersion(a));
  });

  it('produces a valid catalog.published payload', () => {
    const data = catalogPublishedData('support', LISTED);
    expect(eventDataSchemas['catalog.published'].parse(data)).toEqual(data);
    expect(data.version).toBe(sha256Hex(canonicalJson(data.tools)));
  });

  it('refuses a tool listed twice, naming it', () => {
    expect(() => toCatalogTools('support', [LISTED[0]!, LISTED[0]!])).toThrow(
      expect.objectContaining({
        code: 'GH_ERR_POLICY_CATALOG_INVALID',
        message: 'upstream support: tool "support__read_ticket" is listed twice',
      }),
    );
  });
});
