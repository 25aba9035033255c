import { Outlet, useRouterState } from '@tanstack/react-router';
import { type ReactNode, useEffect } from 'react';
import { type EntryPoint, forget, session, signIn } from '../auth.ts';

/**
 * The frame of every page: a skip link, the product's name, the entry point's navigation, who is
 * signed in and the way out. Pages render in <main>. Without a session, it starts the sign-in
 * (the callback page alone renders without one).
 */
export function Shell({ entry, title, nav }: { entry: EntryPoint; title: string; nav: ReactNode }) {
  // Read from the router's state so that the frame renders again on each navigation; the full
  // path (with /console or /portal) from the window, as the sign-in comes back to it.
  useRouterState({ select: (state) => state.location.href });
  const href = `${window.location.pathname}${window.location.search}`;
  const onCallback = window.location.pathname === `/${entry}/callback`;
  const signedIn = session();
  useEffect(() => {
    if (!onCallback && signedIn === undefined) {
      signIn(entry, href).catch((error: unknown) => console.error('could not start the sign-in', error));
    }
  }, [entry, href, onCallback, signedIn]);
  if (onCallback) {
    return (
      <main id="main">
        <Outlet />
      </main>
    );
  }
  if (signedIn === undefined) {
    return (
      <main id="main">
        <p role="status">Signing in…</p>
      </main>
    );
  }
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">{title}</span>
        <nav aria-label="Main">{nav}</nav>
        <span className="who">
          {signedIn.email ?? signedIn.userId}
          {signedIn.organizationName === undefined ? '' : ` · ${signedIn.organizationName}`}
        </span>
        <a href="/sign-out" onClick={() => forget()}>
          Sign out
        </a>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </>
  );
}
