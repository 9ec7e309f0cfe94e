export * from './event-log.js';
export * from './errors.js';
