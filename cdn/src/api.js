// Calls to the API with the session's cookies, from the page and the service worker alike.
import { forget, keepKey } from "./seal.js";
import vocabulary from "./vocabulary.js";

const KEY_URL = "/api/mobile/auth/offline-key";

/**
 * Run ``work`` holding the Web Lock ``name`` (across the page and the worker), where there are
 * Web Locks.
 * @template T
 * @param {string} name
 * @param {() => Promise<T>} work
 * @returns {Promise<T>}
 */
export const locked = (name, work) =>
  navigator.locks ? /** @type {Promise<T>} */ (/** @type {unknown} */ (navigator.locks.request(name, work))) : work();

/** Network trouble that passes: try again. @param {number} status */
export const retryable = (status) => status === 408 || status === 429 || status >= 500;
/** What Retry-After asks, in ms (0 when it asks nothing). @param {Response} response */
export const delayOf = (response) => Number(response.headers.get("Retry-After")) * 1000 || 0;

/** The problem+json ``code`` of an answer, if it has one. @param {Response} response */
export const problemCode = (response) =>
  response.clone().json().then((problem) => problem?.code, () => undefined);

/** A 401 that answers the request (a wrong current password), not one about the session. @param {Response} response */
export const answered = async (response) =>
  response.status === 401 && (await problemCode(response)) === vocabulary.problems.wrongPassword;

// Refreshes at most once at a time across the page and the worker (Web Locks): two refreshes
// spending the same token would look like a stolen token and sign the device out. Nothing
// here goes to the HTTP cache: per-user answers must not sit on disk in the clear.
/**
 * @param {string} url
 * @param {RequestInit & { headers?: Record<string, string> }} options
 * @returns {Promise<Response>}
 */
export async function authorised(url, options) {
  const request = () => fetch(url, { credentials: "same-origin", cache: "no-store", ...options,
    headers: { "X-Requested-With": "fetch", "Content-Type": "application/json", ...options.headers } });
  const response = await request();
  if (response.status !== 401 || (await answered(response))) return response;
  return locked(vocabulary.locks.refresh, async () => {
    const again = await request(); // another context may have refreshed meanwhile
    if (again.status !== 401) return again;
    const refreshed = await fetch("/api/mobile/auth/refresh", {
      method: "POST", credentials: "same-origin", cache: "no-store", headers: { "X-Requested-With": "fetch" } });
    if (refreshed.status === 401) {
      await forget();
      return again; // signed out for good
    }
    return refreshed.ok ? request() : refreshed; // the refresh itself must wait: retry later
  });
}

/** This device's offline key, from the server. */
export async function fetchKey() {
  const response = await authorised(KEY_URL, { method: "GET" });
  if (!response.ok) return null;
  return keepKey((await response.json()).key);
}
