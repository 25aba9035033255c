// HTML built on the server: invoices, mail, the hosted sign-in pages and the OpenID provider's
// pages. Every value from data is escaped; only markup made by `html` itself passes through.

/** Text made safe to place in HTML content or a quoted attribute. */
export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** HTML that is already safe: made by {@link html} from escaped parts. */
export interface Html {
  readonly html: string;
}

/**
 * A tagged template that escapes every interpolated value, except {@link Html} made by it. Arrays
 * are joined; `undefined`, `null` and `false` render as nothing (for `${cond && html`…`}`).
 */
export function html(strings: TemplateStringsArray, ...values: readonly unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return { html: out };
}

function render(value: unknown): string {
  if (value === undefined || value === null || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  if (typeof value === 'object' && 'html' in value) return (value as Html).html;
  return escapeHtml(String(value));
}
