import { GatehouseError } from '@gatehouse/events';
import type {
  ActivityAnswer,
  CapabilitiesAnswer,
  SessionEventsAnswer,
  SessionsAnswer,
  SessionVerification,
  WhatIfAnswer,
} from '@gatehouse/query-api';

/** Error codes of the query API client. */
export const QUERY_CLIENT_ERROR_CODES = [
  'GH_ERR_CLI_QUERY_UNREACHABLE',
  'GH_ERR_CLI_QUERY_REFUSED',
  'GH_ERR_CLI_QUERY_TOKEN',
] as const;
export type QueryClientErrorCode = (typeof QUERY_CLIENT_ERROR_CODES)[number];

/** The query API could not be reached, refused the request, or no token could be had. */
export class QueryClientError extends GatehouseError {
  declare readonly code: QueryClientErrorCode;
  /** HTTP status of a refusal. */
  readonly httpStatus: number | undefined;
  /** `error` member of the refusal body (`bad_request`, `insufficient_scope`, …). */
  readonly wireError: string | undefined;
  constructor(
    code: QueryClientErrorCode,
    message: string,
    options: { httpStatus?: number; wireError?: string; cause?: unknown } = {},
  ) {
    super(code, message, {
      status: options.httpStatus,
      retryable: code === 'GH_ERR_CLI_QUERY_UNREACHABLE',
      cause: options.cause,
    });
    this.name = 'QueryClientError';
    this.httpStatus = options.httpStatus;
    this.wireError = options.wireError;
  }
}

export interface QueryClientOptions {
  /** Base URL of the query API, e.g. `http://localhost:7421`. */
  api: string;
  /** Returns the bearer token (called once, on the first request). */
  token: () => Promise<string>;
  /**
   * Where `api` came from, named when it cannot be reached: `--api` (default) or the variable that
   * held it.
   */
  apiSource?: string;
  /**
   * The flag or argument the user typed for each field the API may name in a refusal, e.g.
   * `{ 'querystring/at': '--at', 'params/id': 'SESSION' }`. An unlisted field is named by its bare
   * parameter name; the API's field path (`querystring/…`) is never shown.
   */
  flags?: Record<string, string>;
  fetch?: typeof fetch;
}

type Params = Record<string, string | number | undefined>;

/** How long the 401 hint waits for the API's protected-resource metadata (ms). */
const METADATA_TIMEOUT_MS = 2_000;

/** A field as the query API names it in a refusal: `querystring/at`, `params/id`. */
const API_FIELD = String.raw`(?:querystring|params|body|headers|request)/[A-Za-z0-9_.-]+`;
/** The field leading the message (`querystring/when is not …`, `querystring/cursor: not …`). */
const LEADING_FIELD = new RegExp(String.raw`^(${API_FIELD}):? `);
/** The field after the problem (`no events recorded for session "x" (params/id)`). */
const TRAILING_FIELD = new RegExp(String.raw` ?\((${API_FIELD})\)`);
/** The value the API quotes at the end of a problem: `(got "x")`, or `(read as …; got "x")`. */
const QUOTED_VALUE = / ?\((?:([^()]*?); )?got ("(?:[^"\\]|\\.)*")\)/;

/**
 * Puts a refusal of the query API in the command's terms: the field the API names, leading or
 * trailing, becomes `flag: ` in front (`querystring/when` → `--when: `, `params/id` → `SESSION: `),
 * and a value the API quotes as `(got "x")` becomes the subject: `--when: "x" is not a date, …`.
 * A message naming no field is returned as it is. Pure.
 */
export function inCommandTerms(message: string, flags: Readonly<Record<string, string>> = {}): string {
  const match = LEADING_FIELD.exec(message) ?? TRAILING_FIELD.exec(message);
  if (match === null) return message;
  const field = match[1]!;
  const name = flags[field] ?? field.slice(field.indexOf('/') + 1);
  let problem = `${message.slice(0, match.index)}${message.slice(match.index + match[0].length)}`.trim();
  const quoted = QUOTED_VALUE.exec(problem);
  if (quoted !== null) {
    const aside = quoted[1] === undefined ? '' : ` (${quoted[1]})`;
    problem = `${quoted[2]} ${problem.slice(0, quoted.index)}${aside}${problem.slice(quoted.index + quoted[0].length)}`;
  }
  return `${name}: ${problem}`;
}

/**
 * A typed HTTP client of the query API (DESIGN.md contract). Every method rejects with
 * `QueryClientError`: unreachable (naming the URL and where it came from), refused (status + the
 * API's message in the command's terms, see `inCommandTerms`), or no token.
 */
export class QueryClient {
  readonly api: string;
  readonly #options: QueryClientOptions;
  #token: Promise<string> | undefined;

  constructor(options: QueryClientOptions) {
    this.#options = options;
    this.api = options.api.replace(/\/+$/, '');
  }

  capabilities(agent: string, params: { user?: string; at?: string }): Promise<CapabilitiesAnswer> {
    return this.getJson(`/v1/agents/${encodeURIComponent(agent)}/capabilities`, params);
  }

  activity(
    agent: string,
    params: { from?: string; to?: string; when?: string; tz?: string; limit?: number; cursor?: string },
  ): Promise<ActivityAnswer> {
    return this.getJson(`/v1/agents/${encodeURIComponent(agent)}/activity`, params);
  }

  sessions(params: {
    agent?: string;
    from?: string;
    to?: string;
    limit?: number;
    cursor?: string;
  }): Promise<SessionsAnswer> {
    return this.getJson('/v1/sessions', params);
  }

  sessionEvents(
    id: string,
    params: { from_seq?: number; limit?: number } = {},
  ): Promise<SessionEventsAnswer> {
    return this.getJson(`/v1/sessions/${encodeURIComponent(id)}/events`, params);
  }

  verify(id: string): Promise<SessionVerification> {
    return this.getJson(`/v1/sessions/${encodeURIComponent(id)}/verify`, {});
  }

  whatIf(id: string, policy: string): Promise<WhatIfAnswer> {
    return this.getJson(`/v1/sessions/${encodeURIComponent(id)}/what-if`, { policy });
  }

  async getJson<T>(path: string, params: Params): Promise<T> {
    const url = new URL(`${this.api}${path}`);
    for (const [key, value] of Object.entries(params))
      if (value !== undefined) url.searchParams.set(key, String(value));
    this.#token ??= this.#options.token();
    let token: string;
    try {
      token = await this.#token;
    } catch (error) {
      this.#token = undefined;
      throw error;
    }
    let response: Response;
    try {
      response = await (this.#options.fetch ?? fetch)(url, {
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      });
    } catch (cause) {
      throw new QueryClientError(
        'GH_ERR_CLI_QUERY_UNREACHABLE',
        `${this.#options.apiSource ?? '--api'}: cannot reach the query API at ${this.api} (is \`gatehouse start\` running?)`,
        { cause },
      );
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const { error, message } = (body ?? {}) as { error?: string; message?: string };
      throw new QueryClientError(
        'GH_ERR_CLI_QUERY_REFUSED',
        response.status === 401
          ? await this.#refusedToken(error)
          : this.#describe(response.status, error, message),
        { httpStatus: response.status, ...(error === undefined ? {} : { wireError: error }) },
      );
    }
    return body as T;
  }

  #describe(status: number, error: string | undefined, message: string | undefined): string {
    if (status === 403)
      return `the access token lacks the scope the query API requires (403 ${error ?? 'forbidden'}): ${message ?? ''}`.trim();
    const text = inCommandTerms(message ?? `HTTP ${status}`, this.#options.flags);
    return status === 400 ? text : `${text} (HTTP ${status})`;
  }

  /**
   * The 401 hint: which token to get. It names the audience the API requires — its resource, not
   * the URL it was reached at — and the scopes, from the API's protected-resource metadata
   * (RFC 9728), else from what the config says by default.
   */
  async #refusedToken(error: string | undefined): Promise<string> {
    const wanted = await this.#protectedResource();
    const target =
      wanted === undefined
        ? "for the query API's resource (its config's query.resource, default http://localhost:7421) with scope audit:read"
        : `for resource ${wanted.resource} with scope ${wanted.scopes.length > 0 ? wanted.scopes.join(' ') : 'audit:read'}`;
    return `the query API refused the access token (401${error === undefined ? '' : ` ${error}`}): set GATEHOUSE_TOKEN (or pipe it to --token -) to a token ${target}, such as \`gatehouse token --client analyst\` prints in embedded mode`;
  }

  /**
   * The resource (token audience) and scopes the API asks for, from the protected-resource metadata
   * its 401 names (`WWW-Authenticate: Bearer resource_metadata=…`). Read from the API as reached,
   * which serves that document openly at `/.well-known/oauth-protected-resource`: the URL in the
   * header is built from the resource, which need not resolve from here (`localhost` while the API
   * is reached at 127.0.0.1, or a name another server answers to). Undefined when it cannot be had
   * or does not read as a URL and scope names.
   */
  async #protectedResource(): Promise<{ resource: string; scopes: string[] } | undefined> {
    try {
      const response = await (this.#options.fetch ?? fetch)(
        `${this.api}/.well-known/oauth-protected-resource`,
        { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(METADATA_TIMEOUT_MS) },
      );
      if (!response.ok) return undefined;
      const { resource, scopes_supported: scopes } = (await response.json()) as {
        resource?: unknown;
        scopes_supported?: unknown;
      };
      // Printed to a terminal: only printable ASCII, no escape sequences from whoever answered.
      const printable = (value: unknown): value is string =>
        typeof value === 'string' && /^[\x21-\x7e]+$/.test(value);
      if (!printable(resource) || !URL.canParse(resource)) return undefined;
      return { resource, scopes: Array.isArray(scopes) ? scopes.filter(printable) : [] };
    } catch {
      return undefined;
    }
  }
}

/** What the query commands need from their surroundings; every member has a production default. */
export interface QueryCommandDeps {
  /** Where answers go. Default `process.stdout`. */
  out?: { write(text: string): unknown; isTTY?: boolean };
  /** Where warnings beside an answer go (replay's broken record). Default `process.stderr`. */
  err?: { write(text: string): unknown };
  /** Default `process.env` (GATEHOUSE_TOKEN, GATEHOUSE_QUERY_URL, NO_COLOR, the settings variables). */
  env?: NodeJS.ProcessEnv;
  /**
   * Obtains a token when neither `--token` nor `GATEHOUSE_TOKEN` is given. Default: in embedded
   * mode, a client-credentials token for client `analyst` from the development authserver, with the
   * secret and resources read from `GATEHOUSE_CONFIG`.
   */
  getToken?: (api: string) => Promise<string>;
  /** Clock for words in `--at`/`--from`/`--to`. Default `() => new Date()`. */
  now?: () => Date;
  fetch?: typeof fetch;
  /** Poll interval of `replay --follow` (ms). Default 1,000. */
  followIntervalMs?: number;
  /** Sets the process exit code (verify: 1 when broken). Default: `process.exitCode = code`. */
  setExitCode?: (code: number) => void;
  /** Where `--token -` reads the token from. Default `process.stdin`. */
  stdin?: AsyncIterable<string | Uint8Array>;
}

/** Options every query command takes. */
export interface CommonQueryOptions {
  api?: string;
  token?: string;
  json?: boolean;
}

/** Adds `--api`, `--token` and `--json` to a query command. */
export function withQueryOptions<T extends { option(flags: string, description: string): T }>(command: T): T {
  return command
    .option(
      '--api <url>',
      'query API base URL (default $GATEHOUSE_QUERY_URL or http://<GATEHOUSE_HOST>:<GATEHOUSE_QUERY_PORT>)',
    )
    .option(
      '--token <jwt>',
      'access token with scope audit:read; prefer $GATEHOUSE_TOKEN or "--token -" (read from stdin), since a token given here shows in the process list (default $GATEHOUSE_TOKEN, or one from the embedded authserver for client analyst)',
    )
    .option('--json', 'print the answer as JSON');
}

/** Builds the client for one command invocation: resolves the API URL and how to get a token. */
export async function queryClientFor(
  options: CommonQueryOptions,
  deps: QueryCommandDeps,
  flags: Record<string, string> = {},
): Promise<QueryClient> {
  const env = deps.env ?? process.env;
  // Errors name where the URL came from: the flag, or the variable the user may not know is set.
  // Built from the settings, it is `--api` that would point elsewhere.
  let api: string;
  let apiSource = '--api';
  if (options.api) {
    api = options.api;
  } else if (env.GATEHOUSE_QUERY_URL) {
    api = env.GATEHOUSE_QUERY_URL;
    apiSource = 'GATEHOUSE_QUERY_URL';
  } else {
    const { readSettings } = await import('./settings.js');
    const settings = readSettings(env);
    api = `http://${settings.host}:${settings.queryPort}`;
  }
  if (!URL.canParse(api) || !/^https?:$/.test(new URL(api).protocol)) {
    throw new QueryClientError(
      'GH_ERR_CLI_QUERY_UNREACHABLE',
      `${apiSource}: ${JSON.stringify(api)} is not an http(s) URL`,
    );
  }
  const explicit = options.token ?? (env.GATEHOUSE_TOKEN || undefined);
  const baseUrl = api;
  const token =
    options.token === STDIN_TOKEN
      ? () => tokenFromStdin(deps.stdin ?? process.stdin)
      : explicit !== undefined
        ? async () => explicit
        : async () => (deps.getToken ?? ((u: string) => embeddedAnalystToken(u, env)))(baseUrl);
  return new QueryClient({
    api,
    apiSource,
    token,
    flags,
    ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }),
  });
}

/** `--token -`: the token is read from standard input, out of the process list. */
export const STDIN_TOKEN = '-';
/** More than any access token: standard input past this is not a token. */
const MAX_STDIN_TOKEN_BYTES = 64 * 1024;

/**
 * Reads `--token -`'s token: all of `input` up to its end, surrounding whitespace (a trailing
 * newline) removed. Throws `GH_ERR_CLI_QUERY_TOKEN` when it holds nothing, more than one word, or
 * more than 64 KiB. The message never repeats what was read.
 */
export async function tokenFromStdin(input: AsyncIterable<string | Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of input) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
    bytes += buffer.length;
    if (bytes > MAX_STDIN_TOKEN_BYTES) {
      throw new QueryClientError(
        'GH_ERR_CLI_QUERY_TOKEN',
        `--token -: standard input holds more than ${MAX_STDIN_TOKEN_BYTES / 1024} KiB, which is no access token`,
      );
    }
    chunks.push(buffer);
  }
  const token = Buffer.concat(chunks).toString('utf8').trim();
  if (token === '') {
    throw new QueryClientError(
      'GH_ERR_CLI_QUERY_TOKEN',
      '--token -: standard input held no token (pipe one in, e.g. `gatehouse token --client analyst | gatehouse sessions --token -`)',
    );
  }
  if (/\s/.test(token)) {
    throw new QueryClientError(
      'GH_ERR_CLI_QUERY_TOKEN',
      '--token -: standard input holds more than one word; expected one access token',
    );
  }
  return token;
}

/**
 * A token for client `analyst` from the development authserver (embedded mode), using the
 * `authserver` and `query` sections of `GATEHOUSE_CONFIG`.
 */
export async function embeddedAnalystToken(
  api: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const { readSettings } = await import('./settings.js');
  const { loadConfig } = await import('./config.js');
  const settings = readSettings(env);
  const config = await loadConfig(settings.configPath);
  const analyst = config.authserver?.clients.find((client) => client.clientId === 'analyst');
  if (config.authserver === undefined || analyst === undefined) {
    throw new QueryClientError(
      'GH_ERR_CLI_QUERY_TOKEN',
      `--token: none given, GATEHOUSE_TOKEN is unset, and ${settings.configPath} has no authserver client "analyst" to obtain one for ${api}`,
    );
  }
  const { getDevAccessToken } = await import('@gatehouse/authserver/client');
  try {
    return await getDevAccessToken({
      issuer: config.authserver.issuer,
      clientId: analyst.clientId,
      clientSecret: analyst.clientSecret,
      resource: config.query.resource,
      scope: config.query.requiredScopes,
    });
  } catch (cause) {
    throw new QueryClientError(
      'GH_ERR_CLI_QUERY_TOKEN',
      `--token: none given and the development authserver ${config.authserver.issuer} gave none (${(cause as Error).message}); is \`gatehouse start\` running?`,
      { cause },
    );
  }
}
