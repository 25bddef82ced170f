/** The bottom layer every other one may use: the inner-call host grammar and service lookup. */
export * from './host.js';
export * from './lookup.js';
