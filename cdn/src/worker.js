// Tinedy Field's service worker: what it does, for /sw.js (rendered by the server,
// server/pwa/shell.py) to call serve() with its one config object: what differs between
// strategy sets (role family and locale) and builds. The build (cdn/build.py) makes this module
// and what it imports one classic script. The names it shares with the page come from
// vocabulary.js, the outbox and the sealed data from the same modules the page uses.
import { FRESH, authorised, fetchKey } from "./api.js";
import { flush } from "./flush.js";
import { SHARE_PATH, dropHanded, dropUnsealed, handOver, holdHanded, keepShared as keepInInbox } from "./inbox.js";
import { subscribePush } from "./push.js";
import { receipt as keepReceipt } from "./receipts.js";
import { drop, hold, holding, sealResponse, sealedAt, unsealResponse } from "./seal.js";
import vocabulary from "./vocabulary.js";

/**
 * @typedef {object} Route
 * @property {string} prefix
 * @property {"cache-first" | "network-first" | "stale-while-revalidate"} strategy
 * @property {"shell"} [cache]
 * @property {number} [timeoutMs]
 * @property {string} [except]
 */
/**
 * @typedef {object} Config
 * @property {string} strategySet
 * @property {string} version
 * @property {string[]} precache
 * @property {Route[]} routes
 * @property {string} offlineText
 * @property {number} navigationTimeoutMs
 * @property {string} icon
 */

const worker = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));
const { data: DATA_CACHE, shareInbox: SHARE_INBOX } = vocabulary.caches;
const MESSAGES = vocabulary.messages;
/** @type {Config} */
let config;
let SHELL_CACHE = "";

/** Answer the browser's events as ``settings`` says. @param {Config} settings */
export function serve(settings) {
  config = settings;
  SHELL_CACHE = vocabulary.caches.shell + config.version;
  worker.addEventListener("install", install);
  worker.addEventListener("activate", activate);
  worker.addEventListener("fetch", answer);
  worker.addEventListener("sync", /** @type {any} */ (sync));
  worker.addEventListener("push", pushed);
  worker.addEventListener("notificationclick", clicked);
  worker.addEventListener("pushsubscriptionchange", /** @type {any} */ (renewed));
  worker.addEventListener("message", told);
}

// The page hands its key over (a non-extractable CryptoKey: usable here, unreadable anywhere)
// once it holds it, and tells the worker to forget it when signing out. A worker started
// afresh holds none: it fetches its own when it has signal (flush.js, keep) and otherwise
// hands kept answers to the page still sealed, for the page to open.
/** @param {ExtendableMessageEvent} event */
function told(event) {
  if (new URL(event.origin || worker.location.origin).origin !== worker.location.origin) return;
  const { type, held } = event.data || {};
  if (type === MESSAGES.key && held?.key) hold(held);
  if (type === MESSAGES.wipe) {
    drop();
    dropHanded();
  }
}

/** @param {ExtendableEvent} event */
function install(event) {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(config.precache)));
  worker.skipWaiting();
}

// A new build's worker deletes the caches of older builds, and what an older build kept in
// the share inbox unsealed.
/** @param {ExtendableEvent} event */
function activate(event) {
  event.waitUntil((async () => {
    const keep = new Set([SHELL_CACHE, DATA_CACHE, SHARE_INBOX]);
    for (const name of await caches.keys()) {
      if (name.startsWith(vocabulary.family) && !keep.has(name)) await caches.delete(name);
    }
    await dropUnsealed();
    await worker.clients.claim();
  })());
}

/** @param {FetchEvent} event */
function answer(event) {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method === "POST" && url.pathname === SHARE_PATH) {
    event.respondWith(keepShared(request).catch(() => refusedShare()));
    return;
  }
  if (request.method !== "GET") return;
  if (url.origin !== worker.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(navigation(request));
    return;
  }
  if (url.pathname === SHARE_PATH) {
    event.respondWith(handOver());
    return;
  }
  const route = config.routes.find((r) => url.pathname.startsWith(r.prefix) && !url.pathname.startsWith(r.except || "\u0000"));
  if (!route) {
    // Photos (signed /media URLs in <img>) never reach the HTTP cache, which would keep them
    // on disk in the clear for as long as their URL says: always from the network.
    if (request.destination === "image") event.respondWith(fetch(new Request(request, { cache: "no-store" })));
    return;
  }
  // The page asks for a fresh copy (after a live event or a sync) with the FRESH header.
  const strategy = request.headers.has(FRESH) ? "network-first" : route.strategy;
  event.respondWith(STRATEGIES[strategy](request, route.cache === "shell" ? SHELL_CACHE : DATA_CACHE, route));
}

// The shell cache holds public, hashed files as they are; the data cache holds API answers
// sealed under the device's key (seal.js), and nothing at all while there is no key.
// Per-user answers never go through the browser's HTTP cache (it would keep them in the clear).
/** @param {Request} request @param {string} cacheName */
function fromNetwork(request, cacheName) {
  return cacheName === SHELL_CACHE ? fetch(request) : fetch(new Request(request, { cache: "no-store" }));
}

/** @param {string} cacheName @param {Request} request @param {Response} response */
async function keep(cacheName, request, response) {
  if (!response.ok) return;
  if (cacheName !== SHELL_CACHE && !holding()) await fetchKey().catch(() => null);
  const kept = cacheName === SHELL_CACHE ? response.clone() : await sealResponse(response.clone(), request.url);
  if (kept) await (await caches.open(cacheName)).put(request, kept);
}

/** @param {string} cacheName @param {Request} request */
async function recall(cacheName, request) {
  const cached = await (await caches.open(cacheName)).match(request);
  if (cacheName === SHELL_CACHE || !cached) return cached;
  return holding() ? unsealResponse(cached, request.url) : cached; // sealed: the page opens it
}

/** @type {Record<Route["strategy"], (request: Request, cacheName: string, route: Route) => Promise<Response>>} */
const STRATEGIES = {
  "cache-first": async (request, cacheName) => {
    const cached = await recall(cacheName, request);
    if (cached) return cached;
    const response = await fromNetwork(request, cacheName);
    await keep(cacheName, request, response);
    return response;
  },
  // The network, unless it is slow (then the kept copy, if any, while the network goes on
  // to refresh it), down, or failing (5xx: the kept copy, if any).
  "network-first": async (request, cacheName, route) => {
    const network = fromNetwork(request, cacheName).then(async (response) => {
      await keep(cacheName, request, response);
      return response;
    });
    network.catch(() => {});
    try {
      const response = await withTimeout(network, route.timeoutMs || 4000);
      if (response.status < 500) return response;
      return (await recall(cacheName, request)) || response;
    } catch {
      const cached = await recall(cacheName, request);
      if (cached) return cached;
      return network; // no copy: wait for the network after all (slow 3G), or fail with it
    }
  },
  // The kept copy at once; the network refreshes it, and open pages hear when it changed.
  "stale-while-revalidate": async (request, cacheName) => {
    const cached = await recall(cacheName, request);
    const shown = cached && !sealedAt(cached) && cached.clone().text();
    const fresh = fromNetwork(request, cacheName).then(async (response) => {
      await keep(cacheName, request, response);
      if (shown && response.ok && (await response.clone().text()) !== (await shown)) {
        await tellPages({ type: MESSAGES.refreshed, url: request.url });
      }
      return response;
    });
    fresh.catch(() => {}); // offline with a kept copy: the copy is the answer
    return cached || fresh;
  },
};

// A photo shared from the camera app waits in the share inbox until the person picks its job
// (the app's #shared view), which moves it into the sealed photo lane. Only a share the
// browser itself started (from another app's share sheet) or one of our own pages is taken:
// a worker sees neither Origin nor Sec-Fetch-Site (browsers add them after it, whatwg/fetch
// #1322), so a post whose referrer is another site is refused, and Sec-Fetch-Site is checked
// where a browser exposes it. A cross-site form that hides its referrer still gets at most
// SHARE.files images of SHARE.bytes in all, read no further, and nothing is attached to a job
// until the person picks one (docs/pwa.md).
const SHARE_TYPES = /^image\/(jpeg|png|webp|heic|heif)$/;

// A share this worker cannot seal (no key, and none to fetch: no signal) stays in its memory
// only, for the page it opens to take at once (inbox.js: holdHanded, handOver).
/** @param {Request} request */
async function keepShared(request) {
  const site = request.headers.get("Sec-Fetch-Site");
  const referrer = request.referrer && new URL(request.referrer).origin;
  if ((site && site !== "none" && site !== "same-origin") || (referrer && referrer !== worker.location.origin)) {
    return refusedShare();
  }
  const files = await sharedFiles(request);
  if (!files) return refusedShare();
  if (!holding()) await withTimeout(fetchKey(), config.navigationTimeoutMs).catch(() => null);
  if (!(await keepInInbox(files)) && !holdHanded(files)) return refusedShare(UNOPENED);
  return Response.redirect("/#shared", 303);
}

/** The shared images, or null when the share is over the limits. @param {Request} request */
async function sharedFiles(request) {
  const body = await bounded(request, vocabulary.share.bytes);
  if (!body) return null;
  const form = await new Response(body, { headers: { "Content-Type": request.headers.get("Content-Type") || "" } }).formData();
  const files = /** @type {File[]} */ (form.getAll("file")).filter((file) => typeof file !== "string");
  if (files.length > vocabulary.share.files || files.some((file) => !SHARE_TYPES.test(file.type))) return null;
  return files;
}

/** The body, read no further than ``limit`` bytes (null past it). @param {Request} request @param {number} limit */
async function bounded(request, limit) {
  if (Number(request.headers.get("Content-Length")) > limit || !request.body) return null;
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (let part = await reader.read(); !part.done; part = await reader.read()) {
    size += part.value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(part.value);
  }
  return new Blob(chunks);
}

const ELSEWHERE = "Refused: share photos from the phone's own share sheet.";
const UNOPENED = "Refused: photos shared before wait for the app. Open it, enter the PIN, then share again.";
const refusedShare = (text = ELSEWHERE) => new Response(text,
  { status: 403, headers: { "Content-Type": "text/plain; charset=utf-8" } });

// The app's page (at / and at the paths that open it on a screen of its own, such as an invite
// link's) is the shell this worker precached, at once, whatever the network: opening the app
// never waits on a round trip (seconds on 3G). A new build comes with a new worker, which the
// browser looks for on each navigation and which precaches its own shell; the page open now
// keeps the build it started with. Other pages (a photo opened in its own tab): the network,
// unless it is slow, down or failing, and never the HTTP cache (it would keep the photo on disk).
const APP_PAGES = new Set(["/", ...Object.values(vocabulary.pages)]);

/** @param {Request} request */
async function navigation(request) {
  if (APP_PAGES.has(new URL(request.url).pathname)) {
    const shell = await (await caches.open(SHELL_CACHE)).match("/");
    if (shell) return shell;
  }
  try {
    const response = await withTimeout(fetch(new Request(request, { cache: "no-store" })), config.navigationTimeoutMs);
    if (response.status < 500) return response;
    return (await caches.match("/")) || response;
  } catch {
    const shell = await caches.match("/");
    return shell || new Response(config.offlineText, { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
  }
}

/**
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @returns {Promise<T>}
 */
function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then((value) => { clearTimeout(timer); resolve(value); }, (error) => { clearTimeout(timer); reject(error); });
  });
}

// Background Sync (Chromium): the worker sends what waits itself (flush.js, as the page does),
// so changes leave the phone even when no page is open. A send that must wait fails the sync,
// and the browser tries again later; final answers wait in the vault for the page to show.
/** @param {ExtendableEvent & { tag: string }} event */
function sync(event) {
  if (event.tag !== vocabulary.syncTag) return;
  event.waitUntil((async () => {
    const flushed = await flush();
    if (flushed.sent) await tellPages({ type: MESSAGES.sent });
    if (flushed.retryAfter !== null) throw new Error("the outbox waits for a better moment");
  })());
}

/** @param {Record<string, unknown>} message */
async function tellPages(message) {
  const pages = await worker.clients.matchAll({ type: "window" });
  pages.forEach((page) => page.postMessage(message));
}

// A push: its notification first (every push must show one), then the "displayed" receipt,
// then what the phone keeps for offline is fetched again while there is signal, so the app
// opened from the notification (or later, with none) shows the change; open pages redraw.
/** @param {PushEvent} event */
function pushed(event) {
  const message = readPush(event.data);
  event.waitUntil((async () => {
    await worker.registration.showNotification(message.title || "Tinedy Field", /** @type {NotificationOptions} */ ({
      body: message.body || "", tag: message.tag || undefined, icon: config.icon,
      data: { url: message.url || "/", notificationId: message.notificationId, deliveryId: message.deliveryId },
      renotify: Boolean(message.tag) && (message.kind === "urgent" || message.urgency === "high"), // a repeat still buzzes
      requireInteraction: message.urgency === "high", // stays until the person sees it
    }));
    await receipt(message, "displayed");
    await refreshKept(message.jobId).catch(() => {});
    await tellPages({ type: MESSAGES.pushed, jobId: message.jobId || null });
  })());
}

/** @param {PushMessageData | null} data @returns {Record<string, any>} */
function readPush(data) {
  try {
    return (data && data.json()) || {};
  } catch {
    return { body: data?.text() };
  }
}

// A receipt that must wait is sent by the next sync (or the page's next flush).
/** @param {Record<string, any>} data @param {string} event */
async function receipt(data, event) {
  if (!data.notificationId || !data.deliveryId) return;
  const outcome = await keepReceipt(data.notificationId, data.deliveryId, event).catch(() => 0);
  if (outcome !== "sent") await /** @type {any} */ (worker.registration).sync?.register(vocabulary.syncTag).catch(() => {});
}

// The job lists still fresh enough to be shown offline, and the pushed job's details; a job
// that left this person's view is dropped from the kept copy.
/** @param {string | undefined} jobId */
async function refreshKept(jobId) {
  const cache = await caches.open(DATA_CACHE);
  const urls = [];
  for (const request of await cache.keys()) {
    const lists = new URL(request.url).pathname === "/api/mobile/jobs";
    if (lists && sealedAt(await cache.match(request))) urls.push(request.url);
  }
  if (jobId) urls.push(new URL("/api/mobile/jobs/" + encodeURIComponent(jobId), worker.location.origin).href);
  for (const url of urls) {
    const response = await authorised(url, { method: "GET" });
    if (response.ok) await keep(DATA_CACHE, new Request(url), response);
    else if (response.status === 403 || response.status === 404) await cache.delete(url);
  }
}

/** @param {NotificationEvent} event */
function clicked(event) {
  event.notification.close();
  const data = event.notification.data || {};
  const asked = new URL(data.url || "/", worker.location.origin);
  const target = asked.origin === worker.location.origin ? asked.href : worker.location.origin + "/";
  event.waitUntil((async () => {
    const pages = await worker.clients.matchAll({ type: "window", includeUncontrolled: true });
    const app = pages.filter((page) => new URL(page.url).pathname === "/"); // not a photo's tab
    const open = app.find((page) => page.url === target) || app[0];
    if (open) {
      await open.focus().catch(() => {});
      if (open.url !== target) open.postMessage({ type: MESSAGES.open, url: target });
    } else {
      await worker.clients.openWindow(target).catch(() => {});
    }
    await receipt(data, "clicked");
  })());
}

// The browser renewed the subscription (or dropped it): register the new one.
/** @param {ExtendableEvent & { newSubscription: PushSubscription | null }} event */
function renewed(event) {
  event.waitUntil(subscribePush(worker.registration, null, event.newSubscription).catch(() => {}));
}
