/**
 * The vendor's branding: a brand colour's contrast (WCAG 2.x) and a logo's type and size, checked
 * the same wherever branding is set or shown.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: shared modules.
 */
export {
  BRAND_TEXT_COLOR,
  checkBrandColor,
  checkLogo,
  contrastRatio,
  LOGO_TYPES,
  type LogoType,
  MAX_LOGO_BYTES,
  parseHexColor,
  relativeLuminance,
  WCAG_AA_CONTRAST,
} from './branding.ts';
