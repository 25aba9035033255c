import type { PlanDefinition, PriceDefinition } from '@tenantry/core';

/**
 * The API types a definition as the open `PlanDefinition` schema (docs/plans.md describes it);
 * its shape is core's resolved definition, which the server alone builds.
 */
export function definitionOf(value: unknown): PlanDefinition {
  return value as PlanDefinition;
}

/** A limit's value as read: `null` is unlimited. */
export function limitValue(value: number | null): string {
  return value === null ? 'unlimited' : String(value);
}

/** A price in one line: what is charged, per what (recurring prices per billing interval). */
export function describePrice(price: PriceDefinition, currency: string, interval: string): string {
  const unit = currency.toUpperCase();
  switch (price.type) {
    case 'flat':
      return `${price.amount} ${unit} per ${interval}`;
    case 'per_seat':
      return `${price.unit_amount} ${unit} per seat per ${interval}`;
    case 'minimum':
      return `at least ${price.amount} ${unit} per ${interval}`;
    case 'usage': {
      const included = price.included > 0 ? `, ${price.included} included` : '';
      if (price.tiers !== null) {
        const tiers = price.tiers
          .map((tier) => {
            const flat = tier.flat_amount === '0' ? '' : ` + ${tier.flat_amount} flat`;
            return `up to ${tier.up_to ?? '∞'}: ${tier.unit_amount}${flat}`;
          })
          .join('; ');
        return `${price.meter}, ${price.tiers_mode} tiers (${tiers}) ${unit}${included}`;
      }
      const per =
        price.package_size !== null && price.package_size > 1 ? ` per ${price.package_size}` : ' per unit';
      return `${price.meter}: ${price.unit_amount} ${unit}${per}${included}`;
    }
  }
}

/** One plan version, readable: its settings, features, limits, prices, config, meters and rate limits. */
export function PlanDefinitionView({ definition }: { definition: PlanDefinition }) {
  const features = Object.entries(definition.features);
  const limits = Object.entries(definition.limits);
  const config = Object.entries(definition.config);
  const meters = Object.entries(definition.meters);
  const rateLimits = Object.entries(definition.rate_limits ?? {});
  return (
    <div className="plan-definition">
      <dl className="facts">
        <dt>Name</dt>
        <dd>{definition.name}</dd>
        <dt>Description</dt>
        <dd>{definition.description ?? 'none'}</dd>
        <dt>Currency</dt>
        <dd>{definition.currency}</dd>
        <dt>Interval</dt>
        <dd>{definition.interval}</dd>
        <dt>Trial</dt>
        <dd>{definition.trial_days === 0 ? 'none' : `${definition.trial_days} days`}</dd>
        <dt>Payment method required</dt>
        <dd>{definition.requires_payment_method ? 'yes' : 'no'}</dd>
        <dt>Grace period</dt>
        <dd>{definition.grace_period_days ?? 7} days</dd>
        <dt>Payment retries</dt>
        <dd>days {(definition.payment_retry_days ?? [1, 3, 5]).join(', ') || 'none'}</dd>
      </dl>
      <h2>Features</h2>
      {features.length === 0 ? (
        <p>No features declared.</p>
      ) : (
        <table>
          <caption className="visually-hidden">Features</caption>
          <thead>
            <tr>
              <th scope="col">Feature</th>
              <th scope="col">On this plan</th>
            </tr>
          </thead>
          <tbody>
            {features.map(([key, on]) => (
              <tr key={key}>
                <th scope="row">{key}</th>
                <td>{on ? 'on' : 'off'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Limits</h2>
      {limits.length === 0 ? (
        <p>No limits.</p>
      ) : (
        <table>
          <caption className="visually-hidden">Limits</caption>
          <thead>
            <tr>
              <th scope="col">Limit</th>
              <th scope="col">Kind</th>
              <th scope="col">Value</th>
              <th scope="col">Enforcement</th>
              <th scope="col">Thresholds</th>
            </tr>
          </thead>
          <tbody>
            {limits.map(([key, limit]) => (
              <tr key={key}>
                <th scope="row">{key}</th>
                <td>{limit.kind}</td>
                <td data-testid={`limit-${key}`}>
                  {limitValue(limit.value)}
                  {limit.per_seat ? ' per seat' : ''}
                  {limit.per_subject === undefined ? '' : `, ${limit.per_subject} per subject`}
                </td>
                <td>{limit.enforcement}</td>
                <td>
                  {limit.thresholds.length === 0 ? 'none' : limit.thresholds.map((p) => `${p}%`).join(', ')}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Prices</h2>
      {definition.prices.length === 0 ? (
        <p>Free: no prices.</p>
      ) : (
        <table>
          <caption className="visually-hidden">Prices</caption>
          <thead>
            <tr>
              <th scope="col">Price</th>
              <th scope="col">Name</th>
              <th scope="col">Charge</th>
            </tr>
          </thead>
          <tbody>
            {definition.prices.map((price) => (
              <tr key={price.key}>
                <th scope="row">{price.key}</th>
                <td>{price.name ?? ''}</td>
                <td data-testid={`price-${price.key}`}>
                  {describePrice(price, definition.currency, definition.interval)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Config</h2>
      {config.length === 0 ? (
        <p>No config declared.</p>
      ) : (
        <table>
          <caption className="visually-hidden">Config</caption>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Value</th>
            </tr>
          </thead>
          <tbody>
            {config.map(([key, value]) => (
              <tr key={key}>
                <th scope="row">{key}</th>
                <td>{String(value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Meters</h2>
      {meters.length === 0 ? (
        <p>No meters declared.</p>
      ) : (
        <table>
          <caption className="visually-hidden">Meters</caption>
          <thead>
            <tr>
              <th scope="col">Meter</th>
              <th scope="col">Name</th>
              <th scope="col">Unit</th>
              <th scope="col">Aggregation</th>
              <th scope="col">Category</th>
              <th scope="col">Needs feature</th>
            </tr>
          </thead>
          <tbody>
            {meters.map(([key, meter]) => (
              <tr key={key}>
                <th scope="row">{key}</th>
                <td>{meter.name}</td>
                <td>{meter.unit ?? ''}</td>
                <td>
                  {meter.aggregation}
                  {meter.unique_by === null ? '' : ` by ${meter.unique_by}`}
                </td>
                <td>{meter.category ?? 'other'}</td>
                <td>{meter.feature ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {rateLimits.length === 0 ? null : (
        <>
          <h2>Rate limits</h2>
          <table>
            <caption className="visually-hidden">Rate limits</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Requests</th>
                <th scope="col">Per</th>
                <th scope="col">Burst</th>
              </tr>
            </thead>
            <tbody>
              {rateLimits.map(([name, limit]) => (
                <tr key={name}>
                  <th scope="row">{name}</th>
                  <td>{limit.requests}</td>
                  <td>{limit.per_seconds} s</td>
                  <td>{limit.burst}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
