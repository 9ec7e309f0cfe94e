import { logLevel, type logCreator } from 'kafkajs';
import type { KafkaLogLogger } from './kafka-options.js';

/**
 * Routes kafkajs log lines to a `KafkaLogLogger`. kafkajs logs every retried request failure at
 * ERROR (a coordinator still loading, a broker restarting) although it recovers from them; the
 * adapter reports what it could not recover from through its own errors, so kafkajs ERROR lines go
 * to `warn` and its WARN lines to `debug`.
 */
export function kafkajsLogCreator(logger: KafkaLogLogger): logCreator {
  return () => (entry) => {
    const { message, ...details } = entry.log;
    const line = `kafkajs ${entry.namespace}: ${message}`;
    const fields = details as Record<string, unknown>;
    if (entry.level === logLevel.ERROR) logger.warn(fields, line);
    else if (entry.level === logLevel.WARN) logger.debug?.(fields, line);
  };
}
