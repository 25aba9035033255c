import { useQuery } from '@tanstack/react-query';
import { useRouterState } from '@tanstack/react-router';
import { useEffect } from 'react';
import { get } from '../shared/api.ts';
import { session } from '../shared/auth.ts';

/**
 * The vendor's branding (`GET /branding.json`, public), as the portal shows it: the product's name
 * as the frame's title, its logo, and its colour as the frame's top rule (`--brand`). The colour
 * carries no text here, and where it does (the hosted pages' buttons) the API has checked its
 * contrast. Read once signed in: the frame is shown only then.
 */
export function useBranding() {
  // Rendered again on each navigation, as the frame is: the sign-in's callback is one.
  useRouterState({ select: (state) => state.location.href });
  const branding = useQuery({
    queryKey: ['branding'],
    queryFn: () => get('/branding.json'),
    enabled: session() !== undefined,
    staleTime: 60_000,
  });
  const color = branding.data?.color;
  useEffect(() => {
    if (color !== undefined) document.documentElement.style.setProperty('--brand', color);
  }, [color]);
  return branding.data;
}
