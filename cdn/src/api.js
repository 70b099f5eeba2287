// Calls to the API with the session's cookies, from the page and the service worker alike.
import { read, write } from "./store.js";
import { forget, holdServerKey } from "./vault.js";
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
const LONGEST_WAIT_MS = 15 * 60e3; // a Retry-After (or a rate limit's reset) is waited out, up to this
const SHORTEST_WAIT_MS = 1000;

/**
 * What the server asks to wait before trying again, in ms (0: it asks nothing, back off as
 * usual): ``Retry-After`` (seconds or an HTTP date), else the IETF ``RateLimit`` header's
 * ``t`` (seconds until the quota resets); bounded either way.
 * @param {Response} response
 */
export function delayOf(response) {
  const after = response.headers.get("Retry-After") || "";
  const reset = /(?:^|[;,\s])t=(\d+)/.exec(response.headers.get("RateLimit") || "");
  const ms = /^\d+$/.test(after) ? Number(after) * 1000 : after ? Date.parse(after) - Date.now()
    : reset ? Number(reset[1]) * 1000 : 0;
  return ms > 0 ? Math.min(Math.max(ms, SHORTEST_WAIT_MS), LONGEST_WAIT_MS) : 0;
}

// A wait the server asked for is kept in the vault, and every lane checks it inside its own
// lock: the page and the worker (Background Sync) never send before it, whoever was refused.
/** How long the server asked this phone to wait still, in ms (0: no wait). */
export const stillWaiting = async () => Math.max(0, Number(await read("meta", "retryAt")) - Date.now() || 0);

/** Keep the server's wait (``response`` was 408, 429 or 5xx); its length in ms. @param {Response} response */
export async function waitAsked(response) {
  const ms = delayOf(response);
  if (ms) await write("meta", "retryAt", Date.now() + ms);
  return ms;
}

/** The header a page asks the worker for a fresh copy with (past its kept one): not the
 * ``cache: "reload"`` mode, which would keep the answer in the HTTP cache, in the clear,
 * whenever no worker is in between. */
export const FRESH = "X-Fresh-Copy";

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
  const request = () => fetch(url, { credentials: "same-origin", ...options, cache: "no-store",
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

/** This device's offline key from the server, held in memory; its answer (the raw key, to
 * wrap under a PIN), or null when the server refused the session (no signal: an error).
 * @returns {Promise<import("./vault.js").ServerKey & { userId: string } | null>} */
export async function fetchKey() {
  const response = await authorised(KEY_URL, { method: "GET" });
  if (response.status === 401) return null;
  if (!response.ok) throw new Error(`the key could not be fetched (${response.status})`);
  const answer = await response.json();
  await holdServerKey(answer, answer.userId);
  return answer;
}
