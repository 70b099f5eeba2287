// What every screen of the page shares: API calls that notice a refused session, fresh copies
// after a live event, sending what waits (with the badge that counts it), and the service
// worker's registration. The entry (app.js) fills in ``actions``.
import { FRESH, answered, authorised } from "./api.js";
import { flush } from "./flush.js";
import { html, show } from "./html.js";
import { t } from "./i18n.js";
import { enqueue, takeNotices, waiting } from "./outbox.js";
import { photosWaiting } from "./photos.js";
import { holding, sealedAt, unsealResponse } from "./seal.js";
import { user } from "./session.js";
import { wipeLocal } from "./vault.js";
import vocabulary from "./vocabulary.js";

export const actions = {
  /** Draw the screen the address asks for. @type {() => Promise<void> | void} */
  route: () => {},
  /** The server refused the session. @type {() => void} */
  refused: () => {},
};

/** @param {string} path @param {RequestInit & { headers?: Record<string, string> }} [options] */
export async function api(path, options = {}) {
  const response = await authorised(path, options);
  if (response.status === 401 && !(await answered(response))) actions.refused();
  if (!sealedAt(response)) return response;
  // A kept copy the worker could not open (it started afresh, with no signal): the page can.
  const opened = await unsealResponse(response, new URL(path, location.href).href);
  return opened || new Response(null, { status: 504 });
}

/** Hand the key this page holds to the service worker (a CryptoKey stays unreadable there too). */
export function shareKey() {
  const held = holding();
  if (held) navigator.serviceWorker?.controller?.postMessage({ type: vocabulary.messages.key, held });
}

// Signing out: the page's and the worker's keys, IndexedDB (the outbox, the photo lane, the
// wrapped key) and every cache go first, whether or not the server can be reached; the
// server's Clear-Site-Data follows with its answer. With no signal, the server's session is
// ended at the next start (PENDING_SIGN_OUT).
const PENDING_SIGN_OUT = `${vocabulary.storage.user}.signOut`;

export async function signOut() {
  await wipeLocal();
  localStorage.setItem(PENDING_SIGN_OUT, "1");
  await endSession();
}

/** Tell the server the session ended, if a sign-out with no signal could not. */
export async function endSession() {
  if (!localStorage.getItem(PENDING_SIGN_OUT)) return;
  const response = await authorised("/api/mobile/auth/logout", { method: "POST" }).catch(() => null);
  if (response) localStorage.removeItem(PENDING_SIGN_OUT);
}

// A fresh copy, past the worker's kept one (after a live event or a sync).
/** @param {string} path */
const fresh = (path) => api(path, { headers: { [FRESH]: "1" } });
let freshNext = false;

/** The way the next screen drawn fetches: fresh once after ``refresh()``, else as usual. */
export function fetcher() {
  const wanted = freshNext;
  freshNext = false;
  return wanted ? fresh : api;
}

export function refresh() {
  freshNext = true;
  return actions.route();
}

let retryDelay = 0;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let retryTimer;

export async function flushNow() {
  try {
    await showWaiting();
    if (!navigator.onLine || !user()) return;
    const flushed = await flush();
    if (flushed.signedOut) return actions.refused();
    if (flushed.retryAfter !== null) return retryLater(flushed.retryAfter);
    retryDelay = 0;
    await showWaiting();
    if (flushed.sent) refresh();
  } catch {
    retryLater(0); // storage or network trouble: the changes wait
  }
}

// Network errors, 408, 429 (as Retry-After asks) and 5xx: try again, backing off to 5 min.
/** @param {number} asked */
function retryLater(asked) {
  retryDelay = asked || Math.min(Math.max(retryDelay * 2, 2000), 300000);
  clearTimeout(retryTimer);
  retryTimer = setTimeout(flushNow, retryDelay);
}

/**
 * A change made on this page: kept in the outbox, then sent when it can be. ``kind`` is the
 * sync batch's list it goes in: "update" (a status, ticks), "checkIn", "issue" or "remark";
 * ``at`` (when it was made) stays on the phone.
 * @param {string} kind @param {Record<string, any>} change
 */
export async function enqueueChange(kind, change) {
  const at = new Date().toISOString();
  const stamp = kind === "update" ? { clientTimestamp: at } : kind === "checkIn" ? { timestamp: at } : {};
  await enqueue({ mutationId: crypto.randomUUID(), kind, at, ...stamp, ...change });
  registerSync();
  await flushNow();
}

// Background Sync (Chromium only) lets the worker send when the signal comes back, even with
// no page open. Asked of the registration there is, never awaited (there may be none).
export function registerSync() {
  navigator.serviceWorker?.getRegistration().then((registration) =>
    /** @type {any} */ (registration)?.sync?.register(vocabulary.syncTag)).catch(() => {});
}

export function registerWorker() {
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
}

// The badge: offline, how many changes wait, and each final answer the server gave.
export async function showWaiting() {
  const entries = await waiting();
  const readable = entries.filter((e) => !e.sealedAway).length + (await photosWaiting());
  const sealed = entries.filter((e) => e.sealedAway).length;
  const badge = /** @type {HTMLElement} */ (document.getElementById("net"));
  const offline = !navigator.onLine;
  badge.hidden = !offline && !readable && !sealed;
  badge.textContent = [offline ? t("offline") : "", readable ? `${readable} ${t("waiting")}` : "",
    sealed ? `${sealed} ${t("sealed")}` : ""].filter(Boolean).join(" · ");
  const notices = await takeNotices();
  const sent = notices.filter((n) => n.ok).length;
  const refused = notices.filter((n) => !n.ok);
  const list = /** @type {HTMLElement} */ (document.getElementById("notices"));
  if (sent) {
    show(list, html`<li class="ok">✓ ${sent} ${t("sent")}</li>`, "beforeend");
    setTimeout(() => {
      list.querySelector(".ok")?.remove();
      list.hidden = !list.children.length;
    }, 4000);
  }
  show(list, html`${refused.map((n) => html`<li>${t("failed")}: ${n.reason}</li>`)}`, "beforeend");
  list.hidden = !list.children.length;
}

function bangkokDay(/** @type {number} */ offsetDays) {
  const now = new Date(Date.now() + 7 * 3600e3 + offsetDays * 864e5);
  return now.toISOString().slice(0, 10);
}

/** The jobs of a day (0: today) in Bangkok. @param {number} offset @param {number} limit */
export const dayFeed = (offset, limit) =>
  `/api/mobile/jobs?from=${bangkokDay(offset)}&to=${bangkokDay(offset + 1)}&limit=${limit}`;
