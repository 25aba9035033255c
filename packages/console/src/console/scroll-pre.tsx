import type { ReactNode } from 'react';

/**
 * Preformatted text that may scroll (the stylesheet caps a <pre>'s height): it takes the focus,
 * so that it can be scrolled by keyboard (WCAG 2.1.1).
 */
export function ScrollPre({ children }: { children: ReactNode }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take the focus to be scrolled by keyboard
    <pre tabIndex={0}>{children}</pre>
  );
}
