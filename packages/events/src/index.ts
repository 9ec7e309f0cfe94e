export * from './errors.js';
export * from './canonical-json.js';
export * from './uuidv7.js';
export * from './schema.js';
export * from './hash-chain.js';
export * from './event-codec.js';
export * from './create-event.js';
