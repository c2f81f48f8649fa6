import type { Kind } from './contract.js';

/** The script's success reply (CONTRACT.md section 3), as JSON text carries it. */
export interface PromotionReply {
  result: 'promoted' | 'demoted' | 'already' | 'dry_run';
  prp: string;
  from: string;
  to: string;
  version: number;
  evidence_key: string;
  removed: 0 | 1;
  at: number;
  /** The move asked for (ARGV[9] KIND). */
  kind: Kind;
}

/** Server time in ms from a TIME reply, as the script computes it. */
export function timeToMs([seconds, micros]: readonly (string | number)[]): number {
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}
