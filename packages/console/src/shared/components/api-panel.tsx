import { useState } from 'react';
import { type Call, curlOf } from '../api.ts';
import { cliOf } from '../cli.ts';

type Copied = 'curl' | 'cli' | 'json';

const COPIED_LABEL: Record<Copied, string> = { curl: 'curl', cli: 'CLI command', json: 'JSON' };

/**
 * What a screen shows, as the API gives it: the call as a curl command and as a `tenantry` command
 * (its own, or `tenantry api`; both without the token), and the raw JSON answer. Every screen has
 * one, so that anything seen in the console can be scripted. `label` names the panel apart when a
 * screen shows several calls.
 */
export function ApiPanel({ call, data, label = 'API' }: { call: Call; data: unknown; label?: string }) {
  const curl = curlOf(call);
  const cli = cliOf(call);
  const [copied, setCopied] = useState<Copied | undefined>();
  const copy = (what: Copied, text: string) => {
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
        <button type="button" onClick={() => copy('cli', cli)}>
          Copy as CLI
        </button>
        <button type="button" onClick={() => copy('json', json)}>
          Copy JSON
        </button>
        <span role="status">{copied === undefined ? '' : `Copied ${COPIED_LABEL[copied]}`}</span>
      </div>
      <details>
        <summary>curl</summary>
        <pre data-testid="curl">{curl}</pre>
      </details>
      <details>
        <summary>CLI</summary>
        <pre data-testid="cli">{cli}</pre>
        <p>
          The CLI reads its API token from <code>TENANTRY_TOKEN</code> (or <code>--token</code>) and the
          control plane's address from <code>TENANTRY_URL</code> (or <code>--url</code>; this one is{' '}
          <code>{location.origin}</code>).
        </p>
      </details>
      <details>
        <summary>Raw JSON</summary>
        <pre data-testid="raw-json">{json}</pre>
      </details>
    </section>
  );
}
