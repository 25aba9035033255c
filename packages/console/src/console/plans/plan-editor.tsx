import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import type { ResponseBody } from '@tenantry/core/api';
import { type UIEvent, useId, useRef, useState } from 'react';
import { ApiError, type Call, get, post } from '../../shared/api.ts';
import { ApiPanel, ErrorNotice, TypedConfirm } from '../../shared/components/index.ts';
import { definitionOf } from './plan-definition-view.tsx';
import { PlanDiff } from './plan-diff-page.tsx';

type ApplyResult = ResponseBody<'/v1/plans/apply', 'post'>;
type Impact = NonNullable<ApplyResult['impact']>;

/** An error of the file as the API locates it (docs/errors.md, `validation_failed`). */
interface FileError {
  readonly path: string;
  readonly message: string;
  readonly line?: number | undefined;
  readonly column?: number | undefined;
}

/** The located errors of a `validation_failed` problem, or undefined for any other failure. */
function fileErrors(error: unknown): FileError[] | undefined {
  if (!(error instanceof ApiError) || error.code !== 'validation_failed') return undefined;
  const errors = error.problem.errors;
  if (!Array.isArray(errors)) return undefined;
  return errors.flatMap((item: unknown) => {
    if (typeof item !== 'object' || item === null) return [];
    const e = item as Record<string, unknown>;
    return [
      {
        path: String(e.path ?? ''),
        message: String(e.message ?? ''),
        line: typeof e.line === 'number' ? e.line : undefined,
        column: typeof e.column === 'number' ? e.column : undefined,
      },
    ];
  });
}

/** The words the operator types to apply: short, and unlike anything typed by accident. */
const CONFIRM_WORDS = 'apply plans';

function applyCall(source: string, dryRun: boolean): Call {
  return { method: 'POST', url: '/v1/plans/apply', body: { source, dry_run: dryRun } };
}

/**
 * The plan file editor: YAML text, validated by a dry run (errors at their line, what would
 * change per plan, and the impact on the tenants of each updated plan), then applied behind a
 * typed confirmation. Only text that passed a dry run as it stands can be applied.
 */
export function PlanEditor() {
  const client = useQueryClient();
  const [source, setSource] = useState('');
  const [validated, setValidated] = useState<{ source: string; result: ApplyResult } | undefined>();
  const [confirming, setConfirming] = useState(false);
  const textarea = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLPreElement>(null);
  const id = useId();

  const validate = useMutation({
    mutationFn: (text: string) => post('/v1/plans/apply', { body: { source: text, dry_run: true } }),
    onSuccess: (result, text) => setValidated({ source: text, result }),
    onMutate: () => setValidated(undefined),
  });
  const apply = useMutation({
    mutationFn: (text: string) => post('/v1/plans/apply', { body: { source: text, dry_run: false } }),
    onSuccess: () => {
      setConfirming(false);
      setValidated(undefined);
      client.invalidateQueries({ queryKey: ['plans'] }).catch((error: unknown) => console.warn(error));
      client.invalidateQueries({ queryKey: ['plan'] }).catch((error: unknown) => console.warn(error));
    },
  });

  const errors = fileErrors(validate.error) ?? fileErrors(apply.error);
  const errorLines = new Set((errors ?? []).flatMap((e) => (e.line === undefined ? [] : [e.line])));
  const lineCount = source.split('\n').length;
  const current = validated !== undefined && validated.source === source ? validated.result : undefined;

  /** Puts the caret at the start of a line (and column) of the text, and scrolls it into view. */
  const goTo = (line: number, column = 1) => {
    const area = textarea.current;
    if (area === null) return;
    const lines = source.split('\n');
    const offset = lines.slice(0, line - 1).reduce((sum, text) => sum + text.length + 1, 0) + column - 1;
    const end = offset - (column - 1) + (lines[line - 1]?.length ?? 0);
    area.focus();
    area.setSelectionRange(offset, end);
    const lineHeight = area.scrollHeight / Math.max(lineCount, 1);
    area.scrollTop = Math.max(0, (line - 3) * lineHeight);
  };
  const syncGutter = (event: UIEvent<HTMLTextAreaElement>) => {
    if (gutter.current !== null) gutter.current.scrollTop = event.currentTarget.scrollTop;
  };

  return (
    <>
      <h1>Edit the plan file</h1>
      <p>
        <Link to="/plans">All plans</Link>
      </p>
      <p>
        The control plane stores each plan's resolved definition, not the file it came from: paste the plan
        file (keep it in version control), <strong>Validate</strong> to see its errors, what would change and
        who it would affect, then <strong>Apply</strong>. Plans the file leaves out are not touched.
      </p>
      <form
        className="plan-editor"
        onSubmit={(event) => {
          event.preventDefault();
          validate.mutate(source);
        }}
      >
        <label htmlFor={id}>Plan file (YAML; Ctrl+Enter validates)</label>
        <div className="editor">
          <pre className="gutter" ref={gutter} aria-hidden="true">
            {Array.from({ length: lineCount }, (_, i) => `${errorLines.has(i + 1) ? '!' : ' '}${i + 1}`).join(
              '\n',
            )}
          </pre>
          <textarea
            id={id}
            ref={textarea}
            value={source}
            onChange={(event) => setSource(event.target.value)}
            onScroll={syncGutter}
            onKeyDown={(event) => {
              // Ctrl+Enter (⌘+Enter) validates without leaving the text; Tab keeps moving the focus.
              if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
                event.preventDefault();
                if (source.trim() !== '') validate.mutate(source);
              }
            }}
            rows={24}
            wrap="off"
            spellCheck={false}
            autoCapitalize="off"
            autoComplete="off"
            aria-describedby={errors === undefined ? undefined : `${id}-errors`}
            aria-invalid={errors === undefined ? undefined : true}
          />
        </div>
        <div className="actions">
          <button type="submit" disabled={validate.isPending || source.trim() === ''}>
            {validate.isPending ? 'Validating…' : 'Validate'}
          </button>
          {current === undefined ? null : (
            <button type="button" onClick={() => setConfirming(true)} disabled={confirming}>
              Apply…
            </button>
          )}
        </div>
      </form>
      {errors === undefined ? null : (
        <section id={`${id}-errors`} aria-labelledby={`${id}-errors-heading`} className="file-errors">
          <h2 id={`${id}-errors-heading`}>
            {errors.length} error{errors.length === 1 ? '' : 's'}: nothing was stored
          </h2>
          <ul>
            {errors.map((e) => (
              <li key={`${e.line}:${e.column}:${e.path}:${e.message}`}>
                {e.line === undefined ? (
                  <span>(file)</span>
                ) : (
                  <button type="button" onClick={() => goTo(e.line as number, e.column)}>
                    Line {e.line}
                    {e.column === undefined ? '' : `, column ${e.column}`}
                  </button>
                )}{' '}
                <code>{e.path}</code>: {e.message}
              </li>
            ))}
          </ul>
        </section>
      )}
      {validate.isError && errors === undefined ? <ErrorNotice error={validate.error} /> : null}
      {validated !== undefined && current === undefined ? (
        <p role="status">The text changed since it was validated: validate it again to apply it.</p>
      ) : null}
      {current === undefined ? null : <DryRun result={current} source={source} />}
      {current !== undefined && confirming ? (
        <TypedConfirm
          action="Apply the plan file"
          expected={CONFIRM_WORDS}
          busy={apply.isPending}
          onConfirm={() => apply.mutate(source)}
          onCancel={() => setConfirming(false)}
        />
      ) : null}
      {apply.isError && fileErrors(apply.error) === undefined ? <ErrorNotice error={apply.error} /> : null}
      {apply.data === undefined ? null : <Applied result={apply.data} source={apply.variables ?? ''} />}
    </>
  );
}

/** What a dry run found: each plan's change, the diff of each updated plan, and the impact on tenants. */
function DryRun({ result, source }: { result: ApplyResult; source: string }) {
  const changed = result.plans.filter((plan) => plan.change !== 'unchanged');
  return (
    <section aria-labelledby="dry-run-heading" data-testid="dry-run">
      <h2 id="dry-run-heading">The file is valid: what applying it would do</h2>
      <table>
        <caption className="visually-hidden">Changes per plan</caption>
        <thead>
          <tr>
            <th scope="col">Plan</th>
            <th scope="col">Change</th>
            <th scope="col">Version</th>
          </tr>
        </thead>
        <tbody>
          {result.plans.map((plan) => (
            <tr key={plan.key}>
              <th scope="row">{plan.key}</th>
              <td>
                {plan.change === 'unchanged'
                  ? 'unchanged'
                  : plan.change === 'created'
                    ? 'new plan'
                    : 'new version'}
              </td>
              <td>
                {plan.change === 'updated'
                  ? `v${plan.previous_version} → v${plan.version}`
                  : `v${plan.version}`}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {changed.length === 0 ? <p>Nothing would change: every plan is as stored.</p> : null}
      {changed
        .filter((plan) => plan.change === 'updated' && plan.previous_version !== null)
        .map((plan) => (
          <UpdatedPlan
            key={plan.key}
            planKey={plan.key}
            previous={plan.previous_version as number}
            version={plan.version}
            definition={plan.definition}
          />
        ))}
      {result.impact === undefined ? null : <ImpactView impact={result.impact} />}
      <ApiPanel label="Dry run API" call={applyCall(source, true)} data={result} />
    </section>
  );
}

/** The diff between the stored latest version of a plan and the version the file would make. */
function UpdatedPlan({
  planKey,
  previous,
  version,
  definition,
}: {
  planKey: string;
  previous: number;
  version: number;
  definition: unknown;
}) {
  const stored = useQuery({
    queryKey: ['plan', planKey, 'version', previous],
    queryFn: () => get('/v1/plans/{key}/versions/{version}', { path: { key: planKey, version: previous } }),
  });
  return (
    <section aria-labelledby={`diff-${planKey}`}>
      <h3 id={`diff-${planKey}`}>
        {planKey}: v{previous} → v{version}
      </h3>
      {stored.isError ? <ErrorNotice error={stored.error} /> : null}
      {stored.data === undefined || definition === undefined ? null : (
        <PlanDiff before={definitionOf(stored.data.definition)} after={definitionOf(definition)} />
      )}
    </section>
  );
}

/** Who the new versions would affect, with what actually happens to them on apply. */
function ImpactView({ impact }: { impact: Impact }) {
  return (
    <section aria-labelledby="impact-heading" data-testid="impact">
      <h3 id="impact-heading">Impact on tenants</h3>
      <p>
        Applying moves nobody: each tenant stays on the version it is on (grandfathered), and only new
        subscribers get the new version. A tenant meets the new limits and prices when it is moved to it (
        <code>POST /v1/tenants/{'{id}'}/change-plan</code>). Below: what moving them would do, judged on their
        usage this period and their seats now. Charges compare flat and per-seat prices (and minimums), not
        usage prices.
      </p>
      {impact.plans.length === 0 ? <p>No existing plan gets a new version: no tenant is affected.</p> : null}
      {impact.plans.map((plan) => (
        <div key={plan.key} className="plan-impact" data-testid={`impact-${plan.key}`}>
          <h4>
            {plan.key} v{plan.version}
          </h4>
          <p>
            {plan.tenants} tenant{plan.tenants === 1 ? '' : 's'} on {plan.key}
            {plan.examined < plan.tenants ? ` (the first ${plan.examined} examined)` : ''}:{' '}
            <strong>{plan.over_limit.count}</strong> would be over a limit,{' '}
            <strong>{plan.pays_more.count}</strong> would pay more.
          </p>
          {plan.over_limit.tenants.length === 0 ? null : (
            <table>
              <caption>
                Over a new limit
                {plan.over_limit.tenants.length < plan.over_limit.count
                  ? ` (${plan.over_limit.tenants.length} of ${plan.over_limit.count} shown)`
                  : ''}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Tenant</th>
                  <th scope="col">On</th>
                  <th scope="col">Limit</th>
                  <th scope="col">Used</th>
                  <th scope="col">Limit now</th>
                  <th scope="col">New limit</th>
                </tr>
              </thead>
              <tbody>
                {plan.over_limit.tenants.flatMap((tenant) =>
                  tenant.limits.map((limit) => (
                    <tr key={`${tenant.id}:${limit.key}`}>
                      <th scope="row">
                        <Link to="/tenants/$id" params={{ id: tenant.slug }}>
                          {tenant.name} ({tenant.slug})
                        </Link>
                      </th>
                      <td>v{tenant.version}</td>
                      <td>{limit.key}</td>
                      <td>{limit.used}</td>
                      <td>{limit.current === null ? 'unlimited' : limit.current}</td>
                      <td>{limit.new}</td>
                    </tr>
                  )),
                )}
              </tbody>
            </table>
          )}
          {plan.pays_more.tenants.length === 0 ? null : (
            <table>
              <caption>
                Would pay more per interval
                {plan.pays_more.tenants.length < plan.pays_more.count
                  ? ` (${plan.pays_more.tenants.length} of ${plan.pays_more.count} shown)`
                  : ''}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Tenant</th>
                  <th scope="col">On</th>
                  <th scope="col">Seats</th>
                  <th scope="col">Now</th>
                  <th scope="col">New</th>
                </tr>
              </thead>
              <tbody>
                {plan.pays_more.tenants.map((tenant) => (
                  <tr key={tenant.id}>
                    <th scope="row">
                      <Link to="/tenants/$id" params={{ id: tenant.slug }}>
                        {tenant.name} ({tenant.slug})
                      </Link>
                    </th>
                    <td>v{tenant.version}</td>
                    <td>{tenant.seats}</td>
                    <td>
                      {tenant.current} {tenant.currency.toUpperCase()}
                    </td>
                    <td>
                      {tenant.new} {tenant.currency.toUpperCase()}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      ))}
    </section>
  );
}

/** What the apply stored, each plan a link to its new version. */
function Applied({ result, source }: { result: ApplyResult; source: string }) {
  return (
    <section aria-labelledby="applied-heading" data-testid="applied">
      <h2 id="applied-heading">Applied</h2>
      <ul>
        {result.plans.map((plan) => (
          <li key={plan.key}>
            <Link to="/plans/$key" params={{ key: plan.key }} search={{ version: plan.version }}>
              {plan.key} v{plan.version}
            </Link>{' '}
            {plan.change === 'unchanged'
              ? '(unchanged)'
              : plan.change === 'created'
                ? '(new plan)'
                : '(new version)'}
          </li>
        ))}
      </ul>
      <ApiPanel label="Apply API" call={applyCall(source, false)} data={result} />
    </section>
  );
}
