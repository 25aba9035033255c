/** A version number from the URL: a whole number ≥ 1, anything else dropped (the page then picks one). */
function versionOf(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}

/** The plan page's search params: the version shown (the latest when none). */
export function parsePlanSearch(raw: Record<string, unknown>): { version?: number | undefined } {
  return { version: versionOf(raw.version) };
}

/** The diff page's search params: the two versions compared (the page picks them when absent). */
export function parsePlanDiffSearch(raw: Record<string, unknown>): {
  from?: number | undefined;
  to?: number | undefined;
} {
  return { from: versionOf(raw.from), to: versionOf(raw.to) };
}
