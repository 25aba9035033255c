import { describe, expect, test } from 'vitest';
import { checkBrandColor, checkLogo, contrastRatio, MAX_LOGO_BYTES } from './index.ts';

const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

describe('contrast', () => {
  test('matches the ratios WCAG publishes', () => {
    expect(contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrastRatio('#ffffff', '#ffffff')).toBe(1);
    // #767676 is the lightest grey that passes AA on white (4.54:1); #777777 just fails (4.48:1).
    expect(contrastRatio('#767676', '#ffffff')).toBeCloseTo(4.54, 2);
    expect(contrastRatio('#777777', '#ffffff')).toBeCloseTo(4.48, 2);
    expect(contrastRatio('#ffffff', '#767676')).toBe(contrastRatio('#767676', '#ffffff'));
  });

  test('a brand colour passes with white text at AA and is refused below, naming its ratio', () => {
    expect(checkBrandColor('#1F4FD8')).toEqual({ ok: true, value: '#1f4fd8' });
    expect(checkBrandColor('#767676').ok).toBe(true);
    const pale = checkBrandColor('#777777');
    expect(pale.ok).toBe(false);
    if (!pale.ok) {
      expect(pale.error.code).toBe('validation_failed');
      expect(pale.error.errors?.[0]).toMatchObject({ path: 'color' });
      expect(pale.error.errors?.[0]?.message).toMatch(/4\.48:1.*4\.5:1/);
    }
    const yellow = checkBrandColor('#ffd700');
    expect(yellow.ok).toBe(false);
    for (const bad of ['red', '#fff', '#12345g', 'rgb(0,0,0)', '#1234567']) {
      const refused = checkBrandColor(bad);
      expect(refused.ok, bad).toBe(false);
      if (!refused.ok) expect(refused.error.errors?.[0]?.message).toMatch(/#rrggbb/);
    }
  });
});

describe('logo', () => {
  test('takes a PNG data URL and counts its bytes', () => {
    expect(checkLogo(`data:image/png;base64,${PNG}`)).toEqual({
      ok: true,
      value: { type: 'image/png', bytes: 70 },
    });
  });

  test.each([
    ['an SVG', `data:image/svg+xml;base64,${btoa('<svg onload="alert(1)"/>')}`, /SVG can carry script/],
    ['a PNG declared as JPEG', `data:image/jpeg;base64,${PNG}`, /not a image\/jpeg file/],
    [
      'HTML declared as PNG',
      `data:image/png;base64,${btoa('<html><script>x</script></html>')}`,
      /not a image\/png/,
    ],
    ['a URL', 'https://evil.test/logo.png', /data: URL/],
    ['text', 'data:text/html;base64,PGI+', /data: URL/],
    ['an unknown image type', `data:image/bmp;base64,${btoa('BM000000')}`, /image\/bmp/],
    ['not base64', 'data:image/png;base64,iVBORw0KGgo', /valid base64/],
  ])('refuses %s', (_, logo, message) => {
    const refused = checkLogo(logo);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error.errors?.[0]?.message).toMatch(message);
  });

  test('refuses a logo over the size cap', () => {
    // A PNG's first bytes, then enough more to decode to one byte over the cap.
    const length = Math.ceil(((MAX_LOGO_BYTES + 1) * 4) / 3 / 4) * 4;
    const refused = checkLogo(`data:image/png;base64,${'iVBORw0KGgo'.padEnd(length, 'A')}`);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error.errors?.[0]?.message).toMatch(/at most 65536 bytes/);
  });
});
