import { CreateWebhookEndpoint, InviteMember, ReplayWebhookRange } from '@tenantry/core/api/requests';
import { describe, expect, it } from 'vitest';
import { ApiError } from './api.ts';
import { problemFieldErrors, validateWith } from './form-check.ts';

describe('validateWith', () => {
  it('answers the values to send when the request schema takes them', () => {
    expect(validateWith(InviteMember, { email: 'ada@example.com', role: 'member' })).toEqual({
      ok: true,
      value: { email: 'ada@example.com', role: 'member' },
    });
  });

  it('names each bad field by its path in the body, one sentence each, and sends nothing', () => {
    const checked = validateWith(InviteMember, { email: 'ab', role: '' });
    expect(checked).toEqual({
      ok: false,
      errors: { email: 'email must be at least 3 characters long', role: 'role must not be empty' },
    });
  });

  it('reports a missing member and a wrong type in words, not zod codes', () => {
    const checked = validateWith(ReplayWebhookRange, { since: '2026-01-01T00:00:00Z', until: 5 });
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.errors).toEqual({ until: 'until must be a string, not 5' });
    const missing = validateWith(ReplayWebhookRange, { since: 'yesterday' });
    expect(missing.ok ? {} : missing.errors).toEqual({
      since: expect.stringMatching(/^since "yesterday" is not valid/),
      until: 'until is required',
    });
  });

  it('keeps the first issue of a field and the path of a list entry', () => {
    const checked = validateWith(CreateWebhookEndpoint, { url: 'https://example.com', event_types: [''] });
    expect(checked.ok ? {} : checked.errors).toEqual({ 'event_types.0': 'event_types[0] must not be empty' });
  });

  it('refuses a member the API does not know, as the API would', () => {
    const checked = validateWith(InviteMember, { email: 'ada@example.com', role: 'member', admin: true });
    expect(checked.ok ? {} : checked.errors).toEqual({ admin: 'unknown field "admin"' });
  });
});

describe('problemFieldErrors', () => {
  it('maps the fields a problem names to the body members, each message naming its field', () => {
    const refused = new ApiError(400, {
      code: 'validation_failed',
      detail: 'invalid fields: url, event_types.0',
      errors: [
        { path: 'url', message: 'url must be an http(s) URL' },
        { path: 'event_types.0', message: 'is not a known event type' },
        { path: 'query.limit', message: 'is too big' },
      ],
    });
    expect(problemFieldErrors(refused)).toEqual({
      url: 'url must be an http(s) URL',
      'event_types.0': 'event_types[0]: is not a known event type',
      'query.limit': 'limit: is too big',
    });
  });

  it('finds nothing in a problem without fields, or in an error that is no problem', () => {
    expect(problemFieldErrors(new ApiError(409, { code: 'conflict', detail: 'taken' }))).toEqual({});
    expect(problemFieldErrors(new ApiError(400, { errors: [{ path: 5 }, 'x', null] }))).toEqual({});
    expect(problemFieldErrors(new Error('offline'))).toEqual({});
  });
});
