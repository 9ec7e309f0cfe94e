/** JSON schemas shared by the routes (they also feed the OpenAPI document). */

export const dateTime = { type: 'string', format: 'date-time' } as const;

export const agentParam = {
  type: 'object',
  required: ['agent'],
  properties: {
    agent: { type: 'string', minLength: 1, maxLength: 256, description: 'OAuth client_id of the agent' },
  },
} as const;

export const sessionParam = {
  type: 'object',
  required: ['id'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 256, description: 'MCP session id (or named stream)' },
  },
} as const;

export const limit = (max: number, fallback: number) =>
  ({
    type: 'integer',
    minimum: 1,
    maximum: max,
    default: fallback,
    description: `Page size (1–${max}, default ${fallback})`,
  }) as const;

export const cursor = {
  type: 'string',
  minLength: 1,
  maxLength: 1024,
  description: 'next_cursor of the previous page',
} as const;
