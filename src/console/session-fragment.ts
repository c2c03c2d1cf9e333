/**
 * A signed-in link carries a session token in the URL fragment (`#session=…`): the fragment
 * never leaves the browser (no request line, no Referer, no server log). The page takes the
 * token and removes it from the address bar at once, so it is not bookmarked or shared.
 */
export const SESSION_FRAGMENT_KEY = 'session';

export interface FragmentSession {
  /** The token, or null when the fragment holds none. */
  token: string | null;
  /** The fragment without the token (`''` when nothing else was in it), for `history.replaceState`. */
  rest: string;
}

export function takeSessionFromFragment(hash: string): FragmentSession {
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  const token = params.get(SESSION_FRAGMENT_KEY);
  params.delete(SESSION_FRAGMENT_KEY);
  const rest = params.toString();
  return {
    token: token === null || token === '' ? null : token,
    rest: rest === '' ? '' : `#${rest}`,
  };
}
