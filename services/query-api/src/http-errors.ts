import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { GatehouseError } from '@gatehouse/events';
import type { BearerVerifier } from './bearer-auth.js';
import { QueryApiError } from './errors.js';

/** The body of every error answer. */
export interface ErrorBody {
  error: string;
  message: string;
}

type AjvIssue = { instancePath: string; keyword: string; params: Record<string, unknown>; message?: string };

/** Turns one schema violation into "querystring/at must be an ISO 8601 date-time". */
export function describeValidation(context: string | undefined, issue: AjvIssue): string {
  const where = context ?? 'request';
  const field = issue.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const at = (name: string) => `${where}/${name}`;
  switch (issue.keyword) {
    case 'required':
      return `${at(String(issue.params.missingProperty))} is required`;
    case 'additionalProperties':
      return `${at(String(issue.params.additionalProperty))} is not a known parameter`;
    case 'format':
      return `${at(field)} must be ${issue.params.format === 'date-time' ? 'an ISO 8601 date-time (e.g. 2026-11-24T14:00:00Z)' : `a ${String(issue.params.format)}`}`;
    case 'enum':
      return `${at(field)} must be one of ${(issue.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern':
      return `${at(field)} must match ${String(issue.params.pattern)}`;
    default:
      return `${at(field)} ${issue.message ?? 'is invalid'}`;
  }
}

/**
 * The one error handler: schema violations → 400 naming the field; `QueryApiError` → its status
 * (401/403 with `WWW-Authenticate`); store errors → their 4xx for a refused argument, 503 when
 * retryable; anything else → 500 with a
 * fixed message (the detail is logged, not sent).
 */
export function createErrorHandler(verifier: BearerVerifier) {
  return (error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): ErrorBody => {
    const validation = (error as FastifyError).validation as AjvIssue[] | undefined;
    if (validation !== undefined && validation.length > 0) {
      reply.code(400);
      return {
        error: 'bad_request',
        message: describeValidation((error as FastifyError).validationContext, validation[0]!),
      };
    }
    if (error instanceof QueryApiError) {
      reply.code(error.status ?? 500);
      if (error.status === 401 || error.status === 403)
        reply.header('www-authenticate', verifier.challenge(error));
      if (error.status !== undefined && error.status >= 500) request.log.error({ err: error }, error.message);
      return { error: error.wireError, message: error.message };
    }
    if (error instanceof GatehouseError && error.code.startsWith('GH_ERR_STORE_'))
      return storeErrorAnswer(error, request, reply);
    const status = (error as FastifyError).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      reply.code(status);
      return { error: 'bad_request', message: error.message };
    }
    request.log.error({ err: error }, 'unhandled error');
    reply.code(500);
    return { error: 'server_error', message: 'internal error' };
  };
}

/**
 * A store error's answer: its 4xx for an argument it refused (its message names it; the API adds
 * where it came from), 504 for a read over its time limit (`queryTimeoutMs`), 503 when retryable,
 * else 500 with a fixed message.
 */
function storeErrorAnswer(error: GatehouseError, request: FastifyRequest, reply: FastifyReply): ErrorBody {
  if (error.status !== undefined && error.status < 500) {
    reply.code(error.status);
    const where = error.code === 'GH_ERR_STORE_CURSOR' ? 'querystring/' : '';
    return { error: 'bad_request', message: `${where}${error.message}` };
  }
  if (error.status === 504) {
    request.log.warn({ err: error }, 'audit store query timed out');
    reply.code(504);
    return { error: 'query_timeout', message: error.message };
  }
  request.log.error({ err: error }, 'audit store error');
  reply.code(error.retryable ? 503 : 500);
  return {
    error: error.retryable ? 'store_unavailable' : 'server_error',
    message: error.retryable
      ? 'the audit store is unavailable; retry later'
      : 'the audit store failed to answer',
  };
}
