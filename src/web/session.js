// The signed-in session. The access token lives in memory only; the refresh token is an
// HTTP-only cookie the page never sees (POST /auth/login sets it, /auth/refresh rotates it,
// /auth/logout revokes it). A reload restores the session from the cookie; the access token is
// refreshed before it expires. Tabs of one browser share the cookie, so their refreshes take
// turns (Web Locks): two tabs presenting one token at once would look like reuse, which revokes
// the session.

let current = null;
let timer = null;
let expiredHandler = () => {};

/** `fn` runs when the session can no longer be refreshed (revoked, expired, user inactive). */
export function onExpired(fn) {
  expiredHandler = fn;
}

/** Keeps a new session and plans its refresh. */
export function save(token, expiresIn, user) {
  const lifetime = Math.max(0, Number(expiresIn) || 0) * 1000;
  current = { token, user, expires_at: Date.now() + lifetime };
  clearTimeout(timer);
  // Refresh a minute before expiry, or half-way through a short-lived token.
  const due = Math.max(lifetime / 2, lifetime - 60000);
  if (lifetime > 0) {
    timer = setTimeout(async () => {
      if (!(await refresh())) expiredHandler();
    }, due);
  }
}

/** Forgets the session in this page (the cookie stays: see `logout`). */
export function clear() {
  current = null;
  clearTimeout(timer);
  timer = null;
}

async function exclusively(fn) {
  if (navigator.locks && navigator.locks.request) return navigator.locks.request("ticketd-refresh", fn);
  return fn();
}

async function call(path) {
  return fetch(`/api/v1${path}`, {
    method: "POST",
    headers: { Accept: "application/json, application/problem+json", "Content-Type": "application/json" },
    body: "{}",
    cache: "no-store",
    credentials: "same-origin",
  });
}

/** A new access token from the refresh cookie; false when the session is over. */
export async function refresh() {
  return exclusively(async () => {
    let response;
    try {
      response = await call("/auth/refresh");
    } catch {
      return false;
    }
    if (!response.ok) return false;
    const answer = await response.json();
    let user = current ? current.user : null;
    if (!user) {
      const me = await fetch("/api/v1/auth/me", {
        headers: { Accept: "application/json", Authorization: `Bearer ${answer.access_token}` },
        cache: "no-store",
      });
      if (!me.ok) return false;
      user = await me.json();
    }
    save(answer.access_token, answer.expires_in, user);
    return true;
  });
}

/** Restores the session after a reload, from the refresh cookie. */
export async function restore() {
  return (await refresh()) ? current : null;
}

/** Ends the session here and on the server (the refresh token's whole family). */
export async function logout() {
  clear();
  try {
    await call("/auth/logout");
  } catch {
    // Offline: the cookie stays until it expires or the next sign-in replaces it.
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
