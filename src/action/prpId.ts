import { isValidPrpId } from '../core/index.js';
import { InputError, say } from './failures.js';
import type { PrpIdPattern } from './prpIdPattern.js';
import {
  changeTitle,
  headBranch,
  headCommitMessage,
  type WorkflowContext,
} from './workflowContext.js';

export interface DerivedPrpId {
  id: string;
  /** Where it was found, for the log and the summary. */
  source: 'prp-id' | 'head branch' | 'title' | 'head commit message';
}

/**
 * The PRP id: the `prp-id` input, else the first match of `prp-id-pattern` in the head
 * branch, then the title, then the head commit message (CONTRACT.md section 4).
 */
export function resolvePrpId(
  given: string | undefined,
  pattern: PrpIdPattern,
  ctx: WorkflowContext,
): DerivedPrpId {
  if (given) return { id: given, source: 'prp-id' };
  const places: [DerivedPrpId['source'], string | undefined][] = [
    ['head branch', headBranch(ctx)],
    ['title', changeTitle(ctx)],
    ['head commit message', headCommitMessage(ctx)],
  ];
  for (const [source, text] of places) {
    const id = text === undefined ? undefined : pattern.firstMatch(text);
    if (id === undefined) continue;
    if (!isValidPrpId(id)) {
      throw new InputError('prp-id-pattern', say.matchNotPrpId(id, source));
    }
    return { id, source };
  }
  throw new InputError('prp-id', say.noPrpIdFound(pattern.source));
}
