import { isValidPrpId } from '../core/index.js';
import { InputError } from './inputs.js';
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
      throw new InputError(
        'prp-id-pattern',
        `matched ${JSON.stringify(id)} in the ${source}, which is not a PRP id ` +
          '(1-128 of A-Z a-z 0-9 . _ - starting with a letter or digit)',
      );
    }
    return { id, source };
  }
  throw new InputError(
    'prp-id',
    `is empty and prp-id-pattern ${pattern.source} matches nothing in the head branch, title ` +
      'or head commit message of this event; give prp-id',
  );
}
