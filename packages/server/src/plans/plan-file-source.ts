import type { FieldError } from '@tenantry/core';
import { isCollection, isNode, isPair, LineCounter, parseDocument } from 'yaml';

/**
 * How many times a plan file's aliases (`*name`) may be expanded, counting an alias inside an
 * alias as often as it is repeated: enough for anchors that share a block of limits between plans,
 * and far below what an alias bomb (a few lines that expand to billions of nodes) needs.
 */
const MAX_PLAN_FILE_ALIASES = 100;

/** How deeply mappings and sequences of a plan file may nest; the deepest real path is ~6 levels. */
const MAX_PLAN_FILE_DEPTH = 64;

/** The depth of the deepest collection of a parsed document, counted without recursion, up to `limit + 1`. */
function collectionDepth(root: unknown, limit: number): number {
  const nodes: unknown[] = [root];
  const depths: number[] = [0];
  let deepest = 0;
  while (nodes.length > 0) {
    const node = nodes.pop();
    const depth = depths.pop() as number;
    if (!isCollection(node)) continue;
    if (depth + 1 > deepest) deepest = depth + 1;
    if (deepest > limit) return deepest;
    for (const item of node.items) {
      for (const child of isPair(item) ? [item.key, item.value] : [item]) {
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return deepest;
}

/** A plan file read from YAML text, able to say on which line any path of it stands. */
export interface PlanFileSource {
  /** The file as plain data, for validation. */
  readonly data: unknown;
  /** Turns a path into the document into a field error that names its line and column. */
  locate(path: readonly (string | number)[], message: string): FieldError;
}

/**
 * Parses YAML text. Syntax errors come back as field errors with their position, so the vendor
 * sees every problem in one go, in the same shape as validation errors.
 */
export function readPlanFileSource(
  text: string,
): { ok: true; source: PlanFileSource } | { ok: false; errors: FieldError[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      // With prettyErrors off the parser leaves `linePos` unset; the offset in `pos` is always there.
      errors: doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        // The parser recurses: nesting thousands deep overflows its stack, which it reports as an
        // error of its own. Say what the caller can fix.
        const message = e.message.includes('call stack')
          ? `nests mappings and sequences more than ${MAX_PLAN_FILE_DEPTH} levels deep, the limit`
          : (e.message.split('\n')[0] ?? e.message);
        return { path: '(file)', message, line, column: col };
      }),
    };
  }
  if (collectionDepth(doc.contents, MAX_PLAN_FILE_DEPTH) > MAX_PLAN_FILE_DEPTH) {
    return {
      ok: false,
      errors: [
        {
          path: '(file)',
          message: `nests mappings and sequences more than ${MAX_PLAN_FILE_DEPTH} levels deep, the limit`,
        },
      ],
    };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_PLAN_FILE_ALIASES });
  } catch (error) {
    // yaml throws a ReferenceError when expanding the aliases would pass `maxAliasCount`.
    if (!(error instanceof ReferenceError)) throw error;
    return {
      ok: false,
      errors: [
        {
          path: '(file)',
          message: `expands its aliases (*name) more than ${MAX_PLAN_FILE_ALIASES} times, the limit; write the repeated values out`,
        },
      ],
    };
  }
  const locate = (path: readonly (string | number)[], message: string): FieldError => {
    const dotted = path.length > 0 ? path.join('.') : '(file)';
    // A missing field has no node of its own: point at the nearest ancestor that exists.
    for (let depth = path.length; depth >= 0; depth--) {
      const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
      if (isNode(node) && node.range) {
        const { line, col } = lineCounter.linePos(node.range[0]);
        return { path: dotted, message, line, column: col };
      }
    }
    return { path: dotted, message };
  };
  return { ok: true, source: { data, locate } };
}
