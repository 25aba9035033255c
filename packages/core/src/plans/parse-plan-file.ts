import { err, ok, type Result } from '../result.ts';
import { fromZodIssues, type ValidationIssue } from '../validation-issue.ts';
import { planFileReferenceIssues } from './plan-file-references.ts';
import { type PlanFile, PlanFileStructureSchema } from './plan-file-schema.ts';

/** One problem in a plan file: the path of keys and indices to the offending value, and a sentence. */
export type PlanFileIssue = ValidationIssue;

/**
 * Validates a plan file already parsed from YAML into plain data. Fails with every problem of
 * the file, not just the first — shape errors and cross-reference errors together — because a
 * vendor fixing a file wants the whole list in one go. Paths let the server point at lines.
 */
export function parsePlanFile(input: unknown): Result<PlanFile, PlanFileIssue[]> {
  const parsed = PlanFileStructureSchema.safeParse(input, { reportInput: true });
  const issues = parsed.success ? [] : fromZodIssues(parsed.error.issues);
  // On success the parsed data is normalised (lowercase currencies, canonical amounts), which the
  // reference rules read just as well as the raw input they must fall back on.
  issues.push(...planFileReferenceIssues(parsed.success ? parsed.data : input));
  if (issues.length > 0 || !parsed.success) return err(issues);
  return ok(parsed.data);
}
