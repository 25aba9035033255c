import { useState } from 'react';
import { type Call, curlOf } from '../api.ts';

/**
 * What a screen shows, as the API gives it: the call as a curl command to copy (without the
 * token) and the raw JSON answer. Every screen has one, so that anything seen in the console can
 * be scripted. `label` names the panel apart when a screen shows several calls.
 */
export function ApiPanel({ call, data, label = 'API' }: { call: Call; data: unknown; label?: string }) {
  const curl = curlOf(call);
  const [copied, setCopied] = useState<'curl' | 'json' | undefined>();
  const copy = (what: 'curl' | 'json', text: string) => {
    navigator.clipboard.writeText(text).then(
      () => setCopied(what),
      (error: unknown) => console.warn('copying to the clipboard failed', error),
    );
  };
  const json = JSON.stringify(data, null, 2);
  return (
    <section className="api-panel" aria-label={label}>
      <div className="api-panel-actions">
        <button type="button" onClick={() => copy('curl', curl)}>
          Copy as curl
        </button>
        <button type="button" onClick={() => copy('json', json)}>
          Copy JSON
        </button>
        <span role="status">
          {copied === undefined ? '' : `Copied ${copied === 'curl' ? 'curl' : 'JSON'}`}
        </span>
      </div>
      <details>
        <summary>curl</summary>
        <pre data-testid="curl">{curl}</pre>
      </details>
      <details>
        <summary>Raw JSON</summary>
        <pre data-testid="raw-json">{json}</pre>
      </details>
    </section>
  );
}
