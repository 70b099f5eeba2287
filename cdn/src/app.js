// Tinedy Field: the app shell. Plain browser JavaScript, no build step beyond hashing.
// The outbox and the offline key live in vault.js, which the service worker shares.
"use strict";

// The words the server and the app share are the server's (server/pwa/vocabulary.py),
// written by the build into vocabulary.js.
const { text: T, statusText: STATUS, steps: NEXT, board: BOARD, priorities: PRIORITIES } = VOCABULARY;
const OFFLINE_DETAILS = 30; // job details fetched ahead so they open with no signal
const OFFLINE_REFRESH_MS = 10 * 60e3; // and fetched again at most this often
let lang = (navigator.language || "th").startsWith("th") ? "th" : "en";
let user = JSON.parse(localStorage.getItem(VOCABULARY.storage.user) || "null");
const app = document.getElementById("app");
const t = (key) => T[lang][key] || key;
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const office = () => user && user.role !== "staff";

async function api(path, options = {}) {
  const response = await vault.authorised(path, options);
  if (response.status === 401) refused();
  return response;
}

// The server refused the session (revoked, expired for good): this browser stops taking
// pushes for the person too.
function refused() {
  if (user) dropPush(false);
  signedOut();
}

// A fresh copy, past the worker's kept one (after a live event or a sync).
const fresh = (path) => api(path, { cache: "reload" });
let freshNext = false;

function signedOut() {
  closeLive();
  user = null;
  localStorage.removeItem(VOCABULARY.storage.user);
  showSignIn();
}

function showSignIn() {
  app.innerHTML = `<form id="login"><h2>${t("signIn")}</h2>
    <input name="email" type="email" autocomplete="username" placeholder="${t("email")}" required>
    <input name="password" type="password" autocomplete="current-password" placeholder="${t("password")}" required>
    <button>${t("signIn")}</button><p id="err" class="muted"></p></form>`;
  document.getElementById("login").onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const device = { id: await vault.deviceId(), name: navigator.userAgent.slice(0, 100), platform: "web" };
    const response = await fetch("/api/mobile/auth/login", {
      method: "POST", credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "Content-Type": "application/json" },
      body: JSON.stringify({ email: form.get("email"), password: form.get("password"), device }),
    });
    if (!response.ok) {
      document.getElementById("err").textContent = (await response.json()).detail;
      return;
    }
    user = (await response.json()).user;
    lang = user.locale;
    localStorage.setItem(VOCABULARY.storage.user, JSON.stringify(user));
    await vault.fetchKey().catch(() => null);
    registerWorker(); // a sign-out's Clear-Site-Data removed it
    start();
  };
}

function bangkokDay(offsetDays) {
  const now = new Date(Date.now() + 7 * 3600e3 + offsetDays * 864e5);
  return now.toISOString().slice(0, 10);
}

const dayFeed = (offset, limit) =>
  `/api/mobile/jobs?from=${bangkokDay(offset)}&to=${bangkokDay(offset + 1)}&limit=${limit}`;

const footer = () => (pushAsk() ? `<p><button class="ghost" id="push">${t("notify")}</button></p>` : "") +
  `<p><button class="ghost" id="out">${t("signOut")}</button></p>`;

function wireFooter() {
  const ask = document.getElementById("push");
  if (ask) {
    ask.onclick = () => { // the browser asks only on a tap
      ask.remove();
      Notification.requestPermission().then(subscribe, () => {});
    };
  }
  document.getElementById("out").onclick = async () => {
    await flush(); // what can still be sent goes first: signing out wipes the browser's copy
    const unsent = (await vault.waiting()).length + (await vault.photosWaiting());
    if (unsent && !confirm(t("unsent"))) return;
    await dropPush(true); // while the token still works
    await api("/api/mobile/auth/logout", { method: "POST" });
    closeLive();
    signedOut();
  };
}

async function showJobs() {
  const path = dayFeed(0, 100);
  const response = await (takeFresh() ? fresh : api)(path);
  if (!response.ok) return;
  listShown = new URL(path, location.href).href;
  const { jobs } = await response.json();
  app.innerHTML = `<h2>${t("today")}</h2>` + (jobs.length ? `<ul class="jobs">${jobs.map((job) => `
    <li><a href="#job/${job.id}"><strong>${esc(job.scheduledDate.slice(11, 16))}</strong>
    ${esc(job.customerName)} <span class="tag ${job.priority}">${esc(job.priority)}</span>
    <br><span class="muted">${esc(job.serviceType)} · ${esc(STATUS[lang][job.status])} · ${esc(job.address)}</span></a></li>`).join("")}</ul>`
    : `<p class="muted">${t("none")}</p>`) + footer();
  wireFooter();
  const due = jobs.find((job) => NEXT[job.status]);
  if (location.hash === "#checkin" && due) location.hash = `job/${due.id}`; // the shortcut
  if (navigator.onLine && Date.now() - keptAt > OFFLINE_REFRESH_MS) {
    keptAt = Date.now();
    keepForOffline(jobs);
  }
}

let keptAt = 0;
let listShown = null; // the list on screen, redrawn when the worker has a newer copy of it

function takeFresh() {
  const wanted = freshNext;
  freshNext = false;
  return wanted;
}

// Tomorrow's list and the details of today's and tomorrow's jobs, fetched through the worker
// (which keeps them sealed) so a cold start with no signal still has them.
async function keepForOffline(today) {
  const response = await api(dayFeed(1, 100)).catch(() => null);
  const tomorrow = response && response.ok ? (await response.json()).jobs : [];
  for (const job of [...today, ...tomorrow].slice(0, OFFLINE_DETAILS)) {
    await api(`/api/mobile/jobs/${job.id}`).catch(() => null);
  }
}

async function showJob(id) {
  const response = await (takeFresh() ? fresh : api)(`/api/mobile/jobs/${id}`);
  if (!response.ok) return showJobs();
  const { job, checklistItems, customerContact, photos } = await response.json();
  // What this phone changed and has not sent yet shows as done already, including a change
  // made while this view was being drawn (else a tick would show undone and be tapped twice).
  let waitingChanges;
  for (let seen = -1; seen !== changesQueued;) {
    seen = changesQueued;
    waitingChanges = await vault.waiting();
  }
  for (const change of waitingChanges.filter((e) => e.jobId === job.id)) {
    if (change.status) job.status = change.status;
    for (const tick of change.checklist || []) {
      const item = checklistItems.find((i) => i.id === tick.itemId);
      if (item) item.done = tick.done;
    }
  }
  const next = NEXT[job.status];
  app.innerHTML = `<p><a href="#">${t("back")}</a></p><h2 data-status="${job.status}">${esc(job.customerName)}</h2>
    <p class="muted">${esc(job.serviceType)} · ${esc(STATUS[lang][job.status])} · ${esc(job.address)}<br>${esc(customerContact.phone)}</p>
    <p>${esc(job.notes)}</p>
    <div class="steps">${next ? `<button id="step">${t(next)}</button>` : ""}
    <button class="ghost" id="checkin">${t("checkIn")}</button></div>
    <h3>${t("checklist")}</h3>${checklistItems.map((item) => `<label class="check">
    <input type="checkbox" data-item="${item.id}" ${item.done ? "checked" : ""}> ${esc(item.label)}</label>`).join("")}
    <h3>${t("photos")}</h3><div class="photos">${photos.map((photo) => photo.thumbnailUrl
      ? `<a href="${esc(photo.url)}" target="_blank"><img src="${esc(photo.thumbnailUrl)}" alt="${esc(photo.kind)}"></a>`
      : `<span class="tag">${t("processing")}</span>`).join("")}</div>
    <label class="ghost button">${t("addPhoto")}<input id="photo" type="file" accept="image/*" capture="environment" hidden></label>`;
  const queue = (change) => enqueue({ jobId: job.id, baseVersion: job.version, ...change });
  if (next) {
    const step = document.getElementById("step");
    step.onclick = () => {
      step.disabled = true; // one tap, one change
      queue({ status: next }).then(route);
    };
  }
  app.querySelectorAll("[data-item]").forEach((box) => {
    box.onchange = () => queue({ checklist: [{ itemId: box.dataset.item, done: box.checked }] });
  });
  document.getElementById("checkin").onclick = () => checkIn(job.id);
  document.getElementById("photo").onchange = async (event) => {
    const kind = job.status === "completed" || job.status === "in_progress" ? "after" : "before";
    for (const file of event.target.files) await vault.keepPhoto(job.id, kind, file);
    registerSync();
    await flush();
  };
}

// Photos shared from the camera app wait in the worker's share inbox: pick a job for them.
async function showShared() {
  const inbox = await caches.open(VOCABULARY.caches.shareInbox);
  const files = await inbox.keys();
  const response = await api(dayFeed(0, 100));
  const { jobs } = response.ok ? await response.json() : { jobs: [] };
  app.innerHTML = `<h2>${t("shared")} (${files.length})</h2>
    <select id="target">${jobs.map((job) => `<option value="${esc(job.id)}">${esc(job.scheduledDate.slice(11, 16))}
    ${esc(job.customerName)}</option>`).join("")}</select>
    <button id="attach" ${jobs.length && files.length ? "" : "disabled"}>${t("attach")}</button>`;
  document.getElementById("attach").onclick = async () => {
    const jobId = document.getElementById("target").value;
    if (!jobId) return;
    for (const request of files) {
      await vault.keepPhoto(jobId, "other", await (await inbox.match(request)).blob());
      await inbox.delete(request);
    }
    registerSync();
    location.hash = `job/${jobId}`;
    await flush();
  };
}

function checkIn(jobId) {
  navigator.geolocation.getCurrentPosition((at) => enqueue({ checkIn: true, jobId, type: "in",
    accuracy: at.coords.accuracy, location: { lat: at.coords.latitude, lng: at.coords.longitude } }));
}

// The dispatch board: today's jobs of the branch by status, their priority, and the team's
// phones (a lost one can be signed out here, which also locks its offline copy).
async function showBoard() {
  const [feed, phones] = await Promise.all([api(dayFeed(0, 200)), api("/api/dispatch/devices")]);
  if (!feed.ok) return;
  const { jobs } = await feed.json();
  const { devices } = phones.ok ? await phones.json() : { devices: [] };
  app.innerHTML = `<h2>${t("board")}</h2><div class="board">${BOARD.map((status) => {
    const here = jobs.filter((job) => job.status === status);
    return `<section><h3>${esc(STATUS[lang][status])} <span class="tag">${here.length}</span></h3>${here.map((job) => `
      <div class="card"><strong>${esc(job.scheduledDate.slice(11, 16))}</strong> ${esc(job.customerName)}
      <br><span class="muted">${esc(job.serviceType)}</span>
      <select data-job="${job.id}" aria-label="priority">${PRIORITIES.map((p) =>
        `<option ${p === job.priority ? "selected" : ""}>${p}</option>`).join("")}</select></div>`).join("")}</section>`;
  }).join("")}</div><h3>${t("phones")}</h3><ul class="jobs">${devices.map((d) => `
    <li>${esc(d.userName)} · ${esc(d.name)}<br><span class="muted">${t("lastSeen")} ${esc(d.lastContactAt.slice(11, 16))}
    ${d.clockSkewSeconds ? ` · ${t("skew")} ${Math.round(d.clockSkewSeconds)} s` : ""}</span>
    <button class="ghost" data-revoke="${d.id}">${t("revoke")}</button></li>`).join("")}</ul>` + footer();
  wireFooter();
  app.querySelectorAll("[data-job]").forEach((select) => {
    select.onchange = () => api(`/api/dispatch/jobs/${select.dataset.job}`,
      { method: "PATCH", body: JSON.stringify({ priority: select.value }) }).then(showBoard);
  });
  app.querySelectorAll("[data-revoke]").forEach((button) => {
    button.onclick = () => api(`/api/dispatch/devices/${button.dataset.revoke}`, { method: "DELETE" }).then(showBoard);
  });
}

let changesQueued = 0; // by this page, so a view being drawn can tell it missed one

async function enqueue(change) {
  const at = new Date().toISOString();
  const entry = change.checkIn
    ? { mutationId: crypto.randomUUID(), kind: "checkIn", jobId: change.jobId, type: change.type,
        location: change.location, accuracy: change.accuracy, timestamp: at }
    : { mutationId: crypto.randomUUID(), kind: "update", clientTimestamp: at, ...change };
  await vault.enqueue(entry);
  changesQueued += 1;
  registerSync();
  await flush();
}

// Background Sync (Chromium only) lets the worker send when the signal comes back, even with
// no page open. Asked of the registration there is, never awaited (there may be none).
function registerSync() {
  navigator.serviceWorker?.getRegistration().then((registration) =>
    registration?.sync?.register(VOCABULARY.syncTag)).catch(() => {});
}

// Web Push once signed in: silently where it is allowed already, after a tap on the jobs
// screen where the person was never asked, not at all where they said no. A browser with no
// push service (or no signal) just goes without.
const pushable = () => "PushManager" in window && "Notification" in window && "serviceWorker" in navigator;
const pushAsk = () => pushable() && Notification.permission === "default";

function subscribe() {
  if (!user || !pushable() || Notification.permission !== "granted") return;
  const userId = user.id;
  navigator.serviceWorker.ready.then((registration) => vault.subscribePush(registration, userId)).catch(() => {});
}

function dropPush(tellServer) {
  const registration = navigator.serviceWorker?.getRegistration() || Promise.resolve();
  return registration.then((r) => vault.unsubscribePush(r, tellServer)).catch(() => {});
}

function registerWorker() {
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
}

let retryDelay = 0;
let retryTimer = null;

// The outbox first (a status change must not wait behind a photo), then the photo lane, then
// the receipts of notifications the worker could not send.
async function flush() {
  try {
    await showWaiting();
    if (!navigator.onLine || !user) return;
    let outcome = await vault.send();
    const uploaded = outcome === "signed-out" ? outcome : await vault.sendPhotos();
    if (uploaded === "sent") outcome = await vault.send(); // the photos' attachments
    const outcomes = [outcome, uploaded];
    outcomes.push(outcomes.includes("signed-out") ? "signed-out" : await vault.sendReceipts());
    if (outcomes.includes("signed-out")) return refused();
    const delays = outcomes.filter((o) => typeof o === "number");
    if (delays.length) return retryLater(Math.max(...delays));
    retryDelay = 0;
    await showWaiting();
    if (outcome === "sent" || uploaded === "sent") refresh();
  } catch {
    retryLater(0); // storage or network trouble: the changes wait
  }
}

// Network errors, 408, 429 (as Retry-After asks) and 5xx: try again, backing off to 5 min.
function retryLater(asked) {
  retryDelay = asked || Math.min(Math.max(retryDelay * 2, 2000), 300000);
  clearTimeout(retryTimer);
  retryTimer = setTimeout(flush, retryDelay);
}

function refresh() {
  freshNext = true;
  return route();
}

// The badge: offline, how many changes wait, and each final answer the server gave.
async function showWaiting() {
  const entries = await vault.waiting();
  const readable = entries.filter((e) => !e.sealedAway).length + (await vault.photosWaiting());
  const sealed = entries.filter((e) => e.sealedAway).length;
  const badge = document.getElementById("net");
  const offline = !navigator.onLine;
  badge.hidden = !offline && !readable && !sealed;
  badge.textContent = [offline ? t("offline") : "", readable ? `${readable} ${t("waiting")}` : "",
    sealed ? `${sealed} ${t("sealed")}` : ""].filter(Boolean).join(" · ");
  const notices = await vault.takeNotices();
  const sent = notices.filter((n) => n.ok).length;
  const refused = notices.filter((n) => !n.ok);
  const list = document.getElementById("notices");
  if (sent) {
    list.insertAdjacentHTML("beforeend", `<li class="ok">✓ ${sent} ${t("sent")}</li>`);
    setTimeout(() => {
      list.querySelector(".ok")?.remove();
      list.hidden = !list.children.length;
    }, 4000);
  }
  list.insertAdjacentHTML("beforeend", refused.map((n) => `<li>${t("failed")}: ${esc(n.reason)}</li>`).join(""));
  list.hidden = !list.children.length;
}

// Live updates. The browser reconnects by itself after a dropped connection; a stream the
// server ends says why: shutting down or falling behind (let the browser reconnect), an
// expired token (refresh, then open anew), a revoked session (stop). A stream that failed
// for good (a 401 after sleeping, a 502 from a proxy) is opened anew with a backoff, from
// the last event seen, so nothing in between is missed.
let live = null;
let lastEventId = "";
let liveDelay = 1000;

function listen() {
  closeLive();
  const since = lastEventId ? `?lastEventId=${encodeURIComponent(lastEventId)}` : "";
  const stream = (live = new EventSource(`/api/mobile/live-updates${since}`, { withCredentials: true }));
  const heard = (event) => {
    if (event.lastEventId) lastEventId = event.lastEventId;
    liveDelay = 1000;
    refresh();
  };
  stream.onmessage = heard;
  VOCABULARY.events.forEach((name) => stream.addEventListener(name, heard));
  stream.addEventListener(VOCABULARY.closing, (event) => {
    const { reason } = JSON.parse(event.data);
    if (reason === "session_revoked") closeLive();
    else if (reason === "token_expired") reopen(stream);
  });
  stream.onerror = () => {
    if (stream.readyState === EventSource.CLOSED) reopen(stream);
  };
}

async function reopen(stream) {
  stream.close();
  if (stream !== live || !user) return;
  await new Promise((resolve) => setTimeout(resolve, liveDelay));
  liveDelay = Math.min(liveDelay * 2, 60000);
  // Any authorised call refreshes an expired token on the way (and signs out a revoked one).
  const ok = await api("/api/mobile/auth/offline-key").then((r) => r.ok, () => false);
  if (stream === live && user) ok ? listen() : reopen(stream);
}

function closeLive() {
  if (live) live.close();
  live = null;
}

function route() {
  listShown = null;
  if (!user) return showSignIn();
  const [view, id] = location.hash.slice(1).split("/");
  if (view === "job" && id) return showJob(id);
  if (view === "sync") return flush().then(() => (location.hash = ""));
  if (view === "shared") return showShared();
  if (office()) return showBoard();
  return showJobs();
}

async function start() {
  if (!user) return showSignIn();
  route();
  if (navigator.onLine && !(await vault.key().catch(() => null))) await vault.fetchKey().catch(() => null);
  flush();
  listen();
  subscribe();
}

window.addEventListener("hashchange", route);
navigator.serviceWorker?.addEventListener("message", ({ data }) => {
  const { sent, pushed, refreshed, open } = VOCABULARY.messages;
  if (data?.type === sent) showWaiting().then(refresh); // the worker sent
  if (data?.type === pushed && user) route(); // the worker has just fetched the news
  if (data?.type === refreshed && data.url === listShown) route(); // drawn from a kept copy
  if (data?.type === open) location.hash = new URL(data.url).hash; // a notification tapped
});
// The first worker takes control only after the first sign-in has drawn the list, which so
// went past it: fetch the day again through it, so the next start (with or without signal)
// finds it kept.
navigator.serviceWorker?.addEventListener("controllerchange", () => {
  keptAt = 0;
  if (user) route();
});
window.addEventListener("online", flush);
window.addEventListener("offline", showWaiting);
registerWorker();
start();
