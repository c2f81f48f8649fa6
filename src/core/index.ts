/**
 * The promotion engine: keys, evidence rules, the script, the promoter and its fallback, the
 * demoter, and the read-only status.
 */
export * from './states.js';
export * from './errors.js';
export * from './keys.js';
export * from './evidenceRules.js';
export * from './reply.js';
export * from './script.js';
export * from './promotionArguments.js';
export * from './multiPromote.js';
export * from './promote.js';
export * from './demote.js';
export * from './status.js';
export * from './connection.js';
export * from './health.js';
export * from './provenance.js';
