import { type Html, html } from '../html.ts';
import type { Brand } from '../mail/index.ts';

/**
 * The page shell every hosted page shares: the vendor's name, colour and logo, a main landmark,
 * and no script at all (every page works as plain forms).
 */
export function layout(brand: Brand, title: string, body: Html): string {
  const logo = brand.logoUrl === undefined ? '' : html`<img src="${brand.logoUrl}" alt="" height="40">`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${brand.productName}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#111}
header{display:flex;gap:.75rem;align-items:center;margin-bottom:1.5rem}
header span{font-weight:600;font-size:1.1rem}
label{display:block;margin:.75rem 0 .25rem;font-weight:500}
input,select{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #999;border-radius:4px}
button{margin-top:1rem;padding:.6rem 1rem;font-size:1rem;border:0;border-radius:4px;color:#fff;background:${brand.color};cursor:pointer}
button.secondary{background:#555}
.error{color:#a40000}
.notice{background:#f3f3f3;padding:.75rem;border-radius:4px}
code,pre{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px;word-break:break-all}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table{width:100%;border-collapse:collapse}td,th{text-align:left;padding:.3rem;border-bottom:1px solid #ddd;vertical-align:top}
</style>
</head>
<body>
<header>${logo}<span>${brand.productName}</span></header>
<main>
<h1>${title}</h1>
${body}
</main>
</body>
</html>
`.html;
}

/** The hidden CSRF field every form carries. */
export function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

/** A labelled input, its error (if any) tied to it for screen readers. */
export function field(
  label: string,
  name: string,
  options: {
    readonly type?: string;
    readonly value?: string | undefined;
    readonly error?: string | undefined;
    readonly autocomplete?: string;
    readonly required?: boolean;
    readonly inputmode?: string;
  } = {},
): Html {
  const id = `f-${name}`;
  const errorId = `${id}-error`;
  return html`<label for="${id}">${label}</label>
<input id="${id}" name="${name}" type="${options.type ?? 'text'}"${options.value === undefined ? '' : html` value="${options.value}"`}${
    options.autocomplete ? html` autocomplete="${options.autocomplete}"` : ''
  }${options.inputmode ? html` inputmode="${options.inputmode}"` : ''}${options.required === false ? '' : html` required`}${
    options.error ? html` aria-invalid="true" aria-describedby="${errorId}"` : ''
  }>
${options.error ? html`<p class="error" id="${errorId}">${options.error}</p>` : ''}`;
}

/** A message about the whole form, announced to screen readers. */
export function alert(message: string | undefined, code?: string): Html {
  return message === undefined
    ? html``
    : html`<p class="error" role="alert"${code ? html` data-code="${code}"` : ''}>${message}</p>`;
}
