/**
 * The promotion engine's public surface, listed name by name: promote and demote a PRP, read
 * its status and the script's health, verify a move's provenance, connect and close, the key
 * helpers and the typed errors. The parts they are built of (decide, the MULTI fallback, the
 * deadline, the script runner) are not API: src/action imports those from their modules.
 */
export { STATES, TARGET_STATES, isState, previousState, type State } from './states.js';
export {
  REFUSAL_CODES,
  OutcomeError,
  RefusedError,
  NotRunError,
  MayHaveRunError,
  PartialWriteError,
  PromotionError,
  ConnectionError,
  AnswerLostError,
  SERVER_REFUSALS,
  serverRefusal,
  type ErrorOutcome,
  type MoveWrite,
  type FailedMoveWrite,
  type RefusalCode,
} from './errors.js';
export {
  DEFAULT_NAMESPACE,
  DEFAULT_EVIDENCE_TTL_SECONDS,
  MAX_EVIDENCE_TTL_SECONDS,
  isValidNamespace,
  isValidPrpId,
  isValidToken,
  prpKey,
  queueKey,
  evidenceKey,
  eventsKey,
  historyKey,
  promotionKeys,
  type PromotionKeys,
} from './keys.js';
export { MAX_EVIDENCE_BYTES, requiredFields, checkEvidence } from './evidenceRules.js';
export { loadScript, promoteScriptSha, type RedisClient } from './script.js';
export {
  promote,
  promotionMode,
  type PromotionMode,
  type PromotionRequest,
  type PromoteOptions,
  type PromotionResult,
} from './promote.js';
export { demote, type DemotionRequest } from './demote.js';
export {
  readStatus,
  readMovesEvidence,
  DEFAULT_HISTORY_ENTRIES,
  MAX_HISTORY_ENTRIES,
  type StatusRequest,
  type HistoryEntry,
  type StoredValueProblem,
  type PrpStatus,
  type MoveEvidence,
} from './status.js';
export {
  connectRedis,
  closeRedis,
  withRedis,
  parseRedisTarget,
  redactUrl,
  type ConnectOptions,
  type RedisTarget,
} from './connection.js';
export {
  readHealth,
  healthSampleKey,
  DEFAULT_HEALTH_THRESHOLDS,
  TRIGGERS,
  type HealthRequest,
  type HealthReport,
  type HealthSample,
  type HealthThresholds,
  type NodeCounters,
  type Trigger,
  type TriggerVerdict,
} from './health.js';
export {
  verifyMove,
  verifyMoves,
  issuerKeys,
  provenanceAudience,
  GITHUB_OIDC_ISSUER,
  PROVENANCE_AUDIENCE_PREFIX,
  VERIFY_PROBLEM_CODES,
  type MoveBinding,
  type StoredMove,
  type CurrentMove,
  type ProvenanceClaims,
  type VerifyProblemCode,
  type VerifyResult,
  type VerifyOptions,
  type IssuerKeys,
} from './provenance.js';
