// The API client: JSON in and out, problem documents (RFC 9457) turned into ApiError.
import * as session from "./session.js";

/** A failed call: `status` (0 when the network failed) and the problem document. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }

  /** The `errors` of a 422: `[{field, message}]`. */
  get fieldErrors() {
    return Array.isArray(this.problem.errors) ? this.problem.errors : [];
  }
}

let unauthorized = () => {};

/** `fn` runs when a signed-in call answers 401 (the token expired or was refused). */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/** Calls `/api/v1` + `path`. Resolves to the parsed body (null when empty). */
export async function request(method, path, body, options = {}) {
  try {
    return await send(method, path, body, options);
  } catch (error) {
    // An access token refused before its planned refresh (a clock skew, a sleeping laptop):
    // one refresh from the cookie, then the call once more.
    if (error.status !== 401 || options.auth === false || options.retried || !session.token()) throw error;
    if (!(await session.refresh())) {
      unauthorized(error);
      throw error;
    }
    return send(method, path, body, { ...options, retried: true });
  }
}

async function send(method, path, body, { auth = true, etag = null, retried = false, contentType = null } = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  if (etag) headers["If-None-Match"] = etag;
  // `contentType` sends `body` as it is (a CSV file); otherwise it is sent as JSON.
  if (body !== undefined) headers["Content-Type"] = contentType || "application/json";
  const bearer = session.token();
  if (auth && bearer) headers.Authorization = `Bearer ${bearer}`;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : contentType ? body : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, { title: "network", detail: String(error) });
  }
  if (response.status === 304) return { unchanged: true, etag };
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text };
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && auth && retried) unauthorized(error);
    throw error;
  }
  if (etag !== null) return { unchanged: false, etag: response.headers.get("ETag"), body: data };
  return data;
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body === undefined ? {} : body);
export const patch = (path, body) => request("PATCH", path, body);
export const del = (path) => request("DELETE", path);
/**
 * GET an answer that carries an ETag, sending the one held (`""` for none): `{unchanged, etag,
 * body}`, `unchanged` when the server answered 304 (the answer held is still the answer).
 */
export const getIfChanged = (path, etag) => request("GET", path, undefined, { etag: etag || "" });

/** `?a=1&b=2` from the members of `params` that are set. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
