// The signed-in session: the access token and who it belongs to, in memory and in
// sessionStorage, so that a reload keeps the session and closing the tab ends it.
// This module is the only one that knows where the token is kept: refresh-token cookies
// (POST /auth/refresh) will replace it without touching the rest of the app.

const KEY = "ticketd.session";
let current = null;

/** Reads the stored session, dropping one whose token has expired. */
export function load() {
  try {
    current = JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    current = null;
  }
  if (current && (!current.token || !current.user || Date.now() >= current.expires_at)) {
    clear();
  }
  return current;
}

/** Keeps a new session. */
export function save(token, expiresIn, user) {
  current = { token, user, expires_at: Date.now() + Math.max(0, Number(expiresIn) || 0) * 1000 };
  try {
    sessionStorage.setItem(KEY, JSON.stringify(current));
  } catch {
    // Storage can be full or disabled: the session then lasts until a reload.
  }
}

/** Forgets the session. */
export function clear() {
  current = null;
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // Nothing stored.
  }
}

/** The bearer token, or null. */
export function token() {
  return current ? current.token : null;
}

/** The signed-in user `{id, email, name, role}`, or null. */
export function user() {
  return current ? current.user : null;
}
