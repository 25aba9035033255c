import { type DomainError, fail } from '../errors.ts';
import { ok, type Result } from '../result.ts';

/**
 * The text every brand colour sits under: the portal's header bar and the hosted pages' buttons
 * are the colour with white text on it, so white is what the colour must contrast with.
 */
export const BRAND_TEXT_COLOR = '#ffffff';

/** WCAG 2.x level AA for normal text (success criterion 1.4.3): 4.5 to 1. */
export const WCAG_AA_CONTRAST = 4.5;

/** The largest logo, decoded: a header image, not a photograph; it is sent with every page. */
export const MAX_LOGO_BYTES = 64 * 1024;

/**
 * The image types a logo may be, each with the bytes its files begin with. No SVG: an SVG is a
 * document that may carry script and external references, and sanitising one is a parser's worth
 * of risk for a header image; a raster logo cannot run anything.
 */
export const LOGO_TYPES = {
  'image/png': [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
  'image/jpeg': [[0xff, 0xd8, 0xff]],
  'image/gif': [
    [0x47, 0x49, 0x46, 0x38, 0x37, 0x61],
    [0x47, 0x49, 0x46, 0x38, 0x39, 0x61],
  ],
  // RIFF….WEBP: the four bytes between are the file's size.
  'image/webp': [[0x52, 0x49, 0x46, 0x46, -1, -1, -1, -1, 0x57, 0x45, 0x42, 0x50]],
} as const satisfies Record<string, readonly (readonly number[])[]>;

/** One of {@link LOGO_TYPES}. */
export type LogoType = keyof typeof LOGO_TYPES;

const HEX_COLOR = /^#([0-9a-f]{6})$/i;

/** `#rrggbb` as its three channels (0–255); undefined for anything else. */
export function parseHexColor(color: string): readonly [number, number, number] | undefined {
  const hex = HEX_COLOR.exec(color)?.[1];
  if (hex === undefined) return undefined;
  const value = Number.parseInt(hex, 16);
  return [(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
}

/** The relative luminance of an sRGB colour, as WCAG 2.x defines it (0 black to 1 white). */
export function relativeLuminance([r, g, b]: readonly [number, number, number]): number {
  const linear = (channel: number) => {
    const c = channel / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

/** The WCAG contrast ratio of two `#rrggbb` colours, from 1 (the same) to 21 (black on white). */
export function contrastRatio(a: string, b: string): number {
  const ca = parseHexColor(a);
  const cb = parseHexColor(b);
  if (ca === undefined || cb === undefined) throw new Error(`not #rrggbb colours: ${a}, ${b}`);
  const la = relativeLuminance(ca);
  const lb = relativeLuminance(cb);
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

function invalid(path: string, message: string): Result<never, DomainError> {
  return fail('validation_failed', `${path} ${message}`, { errors: [{ path, message }] });
}

/**
 * A brand colour, lower-cased, when it is `#rrggbb` and white text on it meets WCAG AA; the
 * refusal names the ratio it has, so that the vendor sees how far off it is.
 */
export function checkBrandColor(color: string, path = 'color'): Result<string, DomainError> {
  if (parseHexColor(color) === undefined) return invalid(path, 'must be a colour as #rrggbb');
  const ratio = contrastRatio(color, BRAND_TEXT_COLOR);
  if (ratio < WCAG_AA_CONTRAST) {
    return invalid(
      path,
      `gives white text a contrast of ${ratio.toFixed(2)}:1; WCAG AA needs at least ${WCAG_AA_CONTRAST}:1, so pick a darker colour`,
    );
  }
  return ok(color.toLowerCase());
}

const DATA_URL = /^data:(image\/[a-z+.-]+);base64,([A-Za-z0-9+/]+={0,2})$/;

/**
 * A logo given as a `data:` URL: base64 of a PNG, JPEG, GIF or WebP file (its first bytes must be
 * that type's: a declared type does not make a file one), at most {@link MAX_LOGO_BYTES} decoded.
 * SVG is refused (see {@link LOGO_TYPES}).
 */
export function checkLogo(
  dataUrl: string,
  path = 'logo',
): Result<{ type: LogoType; bytes: number }, DomainError> {
  const match = DATA_URL.exec(dataUrl);
  if (match === null) return invalid(path, 'must be a data: URL of a base64 image (data:image/png;base64,…)');
  const declared = match[1] ?? '';
  if (declared === 'image/svg+xml') {
    return invalid(path, 'may not be an SVG: an SVG can carry script; give a PNG, JPEG, GIF or WebP');
  }
  if (!Object.hasOwn(LOGO_TYPES, declared)) {
    return invalid(path, `is ${declared}; a logo must be image/png, image/jpeg, image/gif or image/webp`);
  }
  const type = declared as LogoType;
  const base64 = match[2] ?? '';
  // The decoded size, known without decoding: three bytes per four characters, less the padding.
  const bytes = (base64.length / 4) * 3 - (base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0);
  if (base64.length % 4 !== 0) return invalid(path, 'is not valid base64');
  if (bytes > MAX_LOGO_BYTES) {
    return invalid(path, `is ${bytes} bytes; a logo may be at most ${MAX_LOGO_BYTES} bytes (64 KiB)`);
  }
  const head = atob(base64.slice(0, 16));
  const magic: readonly (readonly number[])[] = LOGO_TYPES[type];
  const matches = magic.some((signature) =>
    signature.every((byte, i) => byte === -1 || head.charCodeAt(i) === byte),
  );
  if (!matches) return invalid(path, `is not a ${type} file: its first bytes are not that type's`);
  return ok({ type, bytes });
}
