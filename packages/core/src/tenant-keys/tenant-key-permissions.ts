/**
 * The most permissions one tenant API key may carry. A key's permissions are the vendor's own
 * (`meetings:write`), from its access file: `PERMISSION_PATTERN` in access/ gives their shape.
 */
export const MAX_KEY_PERMISSIONS = 100;
