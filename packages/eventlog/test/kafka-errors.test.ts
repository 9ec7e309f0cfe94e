import { describe, expect, it } from 'vitest';
import { LogError } from '../src/index.js';
import { toLogError } from '../src/kafka/kafka-errors.js';
import { isOutageCrash } from '../src/kafka/kafka-consumer.js';

const kafkajsError = (name: string, message: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), { name, ...extra });

describe('translating kafkajs errors into LogError', () => {
  it('makes an outage a retryable GH_ERR_LOG_UNAVAILABLE that keeps the kafkajs error as cause', () => {
    const cause = kafkajsError(
      'KafkaJSConnectionError',
      'Connection error: connect ECONNREFUSED 127.0.0.1:9092',
    );
    const error = toLogError(cause, 'append to kafka topic gatehouse.audit');

    expect(error).toBeInstanceOf(LogError);
    expect(error).toMatchObject({ code: 'GH_ERR_LOG_UNAVAILABLE', retryable: true, status: 503 });
    expect(error.cause).toBe(cause);
    expect(error.message).toContain('append to kafka topic gatehouse.audit');
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('reports a record the broker refuses as too large, not retryable, also when wrapped by retries-exceeded', () => {
    const tooLarge = kafkajsError(
      'KafkaJSProtocolError',
      'The request included a message larger than the max message size',
      {
        type: 'MESSAGE_TOO_LARGE',
      },
    );
    const wrapped = kafkajsError('KafkaJSNumberOfRetriesExceeded', 'gave up', { originalError: tooLarge });

    // Refused by the broker: the same produce request may have carried records that were written.
    expect(toLogError(tooLarge, 'append')).toMatchObject({
      code: 'GH_ERR_LOG_RECORD_TOO_LARGE',
      retryable: false,
      nothingWritten: false,
    });
    expect(toLogError(wrapped, 'append')).toMatchObject({
      code: 'GH_ERR_LOG_RECORD_TOO_LARGE',
      retryable: false,
    });
  });

  it('passes a LogError through unchanged', () => {
    const original = new LogError('GH_ERR_LOG_CLOSED', 'closed');
    expect(toLogError(original, 'append')).toBe(original);
  });
});

describe('which consumer crashes the adapter restarts itself', () => {
  it('restarts after an election kafkajs gives up on (no coordinator, lock timeout), not after a refusal', () => {
    const noCoordinator = kafkajsError(
      'KafkaJSGroupCoordinatorNotFound',
      'Failed to find group coordinator',
      {
        retriable: false,
      },
    );
    expect(isOutageCrash(noCoordinator)).toBe(true);
    expect(isOutageCrash(kafkajsError('KafkaJSLockTimeout', 'Timeout while acquiring lock'))).toBe(true);
    // kafkajs 2 wraps the error it gave up on as `cause`.
    expect(isOutageCrash(kafkajsError('KafkaJSNonRetriableError', 'gave up', { cause: noCoordinator }))).toBe(
      true,
    );
    const unauthorized = kafkajsError('KafkaJSProtocolError', 'Not authorized to access group', {
      type: 'GROUP_AUTHORIZATION_FAILED',
      retriable: false,
    });
    expect(isOutageCrash(unauthorized)).toBe(false);
    // A refused connection that kafkajs's retries gave up on: the broker is still down.
    const refused = kafkajsError('KafkaJSConnectionError', 'Connection error: connect ECONNREFUSED', {
      retriable: true,
    });
    expect(isOutageCrash(refused)).toBe(true);
    expect(
      isOutageCrash(
        kafkajsError('KafkaJSNumberOfRetriesExceeded', 'Connection error: connect ECONNREFUSED', {
          cause: refused,
        }),
      ),
    ).toBe(true);
    expect(isOutageCrash(new Error('something else'))).toBe(false);
  });
});
