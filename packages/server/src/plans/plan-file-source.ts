import type { FieldError } from '@tenantry/core';
import { isNode, LineCounter, parseDocument } from 'yaml';

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
        return { path: '(file)', message: e.message.split('\n')[0] ?? e.message, line, column: col };
      }),
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
  return { ok: true, source: { data: doc.toJS(), locate } };
}
