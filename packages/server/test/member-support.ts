import { expect } from 'vitest';
import type { TestApp } from './harness.ts';
import { userToken } from './user-tokens.ts';

/** The access file the member and sign-in tests share: two permissions, three roles. */
export const ACCESS = `
permissions:
  meetings:read: Read meetings
  meetings:write: Create and edit meetings
roles:
  admin: [meetings:read, meetings:write]
  member: [meetings:read, meetings:write]
  viewer: [meetings:read]
`;

/** Applies `source` as the vendor's access file over the API. */
export async function applyAccess(t: TestApp, source: string = ACCESS): Promise<void> {
  const applied = await t.request({ method: 'PUT', url: '/v1/access', payload: { source } });
  expect(applied.status, JSON.stringify(applied.body)).toBe(200);
}

/** A membership as accepting an invitation answers it. */
export interface AcceptedMember {
  id: string;
  user_id: string;
  permissions: string[];
}

/** A new member of `tenantId` with `role`: `email` invited and the invitation accepted over the API. */
export async function invitedMember(
  t: TestApp,
  tenantId: string,
  role: string,
  email: string,
): Promise<AcceptedMember> {
  const invited = await t.request({
    method: 'POST',
    url: `/v1/tenants/${tenantId}/invitations`,
    payload: { email, role },
  });
  expect(invited.status, JSON.stringify(invited.body)).toBe(201);
  const token = new URL(invited.body.invitation_url).searchParams.get('token') ?? '';
  const accepted = await t.request({
    method: 'POST',
    url: '/v1/invitations/accept',
    payload: { token, user_id: invited.body.invitation.user_id },
  });
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
  expect(accepted.body.user_id).toBe(invited.body.invitation.user_id);
  return accepted.body as AcceptedMember;
}

/**
 * The `authorization` header of a new member of `tenantId` with `role` (invited at a fresh
 * address, the invitation accepted): a user token signed as the OpenID provider would sign it.
 */
export async function memberAuthorization(
  t: TestApp,
  tenantId: string,
  role: string,
): Promise<Record<string, string>> {
  const email = `${role}.${Math.random().toString(36).slice(2)}@example.com`;
  const member = await invitedMember(t, tenantId, role, email);
  return { authorization: `Bearer ${await userToken(t, { sub: member.user_id, tid: tenantId })}` };
}
