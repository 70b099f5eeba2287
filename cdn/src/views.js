// The field screens: signing in, today's jobs, one job, photos shared from the camera app, and
// the footer every list has (notifications, changing the password, signing out).
import { fetchKey } from "./api.js";
import { html, show } from "./html.js";
import { speak, statusText, t } from "./i18n.js";
import { closeLive } from "./live.js";
import { queued, waiting } from "./outbox.js";
import { actions, api, dayFeed, enqueueChange, fetcher, flushNow, registerSync, registerWorker } from "./page.js";
import { keepPhoto, photosWaiting } from "./photos.js";
import { dropPush, pushAsk, subscribe } from "./push.js";
import { remember } from "./session.js";
import { deviceId } from "./store.js";
import vocabulary from "./vocabulary.js";

const OFFLINE_DETAILS = 30; // job details fetched ahead so they open with no signal
const OFFLINE_REFRESH_MS = 10 * 60e3; // and fetched again at most this often
const NEXT = vocabulary.steps;
const app = /** @type {HTMLElement} */ (document.getElementById("app"));

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} iso */
const clock = (iso) => iso.slice(11, 16);

let keptAt = 0;
/** @type {string | null} */
let listShown = null; // the list on screen, redrawn when the worker has a newer copy of it

/** The address of the list on screen, if one is. */
export const shownList = () => listShown;
/** Fetch the day ahead again at the next list drawn (a new worker holds nothing yet). */
export const keepAgain = () => { keptAt = 0; };
export const leaving = () => { listShown = null; };

/** @param {() => void} started what follows a sign-in */
export function showSignIn(started) {
  show(app, html`<form id="login"><h2>${t("signIn")}</h2>
    <input name="email" type="email" autocomplete="username" placeholder="${t("email")}" required>
    <input name="password" type="password" autocomplete="current-password" placeholder="${t("password")}" required>
    <button>${t("signIn")}</button><p id="err" class="muted"></p></form>
    <p><a href="#forgot">${t("forgot")}</a></p>`);
  byId("login").onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (event.target));
    const device = { id: await deviceId(), name: navigator.userAgent.slice(0, 100), platform: "web" };
    const response = await fetch("/api/mobile/auth/login", {
      method: "POST", credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "Content-Type": "application/json" },
      body: JSON.stringify({ email: form.get("email"), password: form.get("password"), device }),
    });
    if (!response.ok) {
      byId("err").textContent = (await response.json()).detail;
      return;
    }
    const { user } = await response.json();
    speak(user.locale);
    remember(user);
    await fetchKey().catch(() => null);
    registerWorker(); // a sign-out's Clear-Site-Data removed it
    started();
  };
}

export const footer = () => html`${pushAsk() && html`<p><button class="ghost" id="push">${t("notify")}</button></p>`}
  <p><a class="button ghost" href="#password">${t("changePassword")}</a></p>
  <p><button class="ghost" id="out">${t("signOut")}</button></p>`;

/** @param {import("./session.js").User} user @param {() => void} signedOut */
export function wireFooter(user, signedOut) {
  const ask = document.getElementById("push");
  if (ask) {
    ask.onclick = () => { // the browser asks only on a tap
      ask.remove();
      Notification.requestPermission().then(() => subscribe(user.id), () => {});
    };
  }
  byId("out").onclick = async () => {
    await flushNow(); // what can still be sent goes first: signing out wipes the browser's copy
    const unsent = (await waiting()).length + (await photosWaiting());
    if (unsent && !confirm(t("unsent"))) return;
    await dropPush(true); // while the token still works
    await api("/api/mobile/auth/logout", { method: "POST" });
    closeLive();
    signedOut();
  };
}

/** @param {import("./session.js").User} user @param {() => void} signedOut */
export async function showJobs(user, signedOut) {
  const path = dayFeed(0, 100);
  const response = await fetcher()(path);
  if (!response.ok) return;
  listShown = new URL(path, location.href).href;
  /** @type {{ jobs: any[] }} */
  const { jobs } = await response.json();
  show(app, html`<h2>${t("today")}</h2>${jobs.length ? html`<ul class="jobs">${jobs.map((job) => html`
    <li><a href="#job/${job.id}"><strong>${clock(job.scheduledDate)}</strong>
    ${job.customerName} <span class="tag ${job.priority}">${job.priority}</span>
    <br><span class="muted">${job.serviceType} · ${statusText(job.status)} · ${job.address}</span></a></li>`)}</ul>`
    : html`<p class="muted">${t("none")}</p>`}${footer()}`);
  wireFooter(user, signedOut);
  const due = jobs.find((job) => NEXT[job.status]);
  if (location.hash === "#checkin" && due) location.hash = `job/${due.id}`; // the shortcut
  if (navigator.onLine && Date.now() - keptAt > OFFLINE_REFRESH_MS) {
    keptAt = Date.now();
    keepForOffline(jobs);
  }
}

// Tomorrow's list and the details of today's and tomorrow's jobs, fetched through the worker
// (which keeps them sealed) so a cold start with no signal still has them.
/** @param {any[]} today */
async function keepForOffline(today) {
  const response = await api(dayFeed(1, 100)).catch(() => null);
  const tomorrow = response && response.ok ? (await response.json()).jobs : [];
  for (const job of [...today, ...tomorrow].slice(0, OFFLINE_DETAILS)) {
    await api(`/api/mobile/jobs/${job.id}`).catch(() => null);
  }
}

/** @param {string} id */
export async function showJob(id) {
  const response = await fetcher()(`/api/mobile/jobs/${id}`);
  if (!response.ok) return actions.route();
  /** @type {{ job: any, checklistItems: any[], customerContact: any, photos: any[] }} */
  const { job, checklistItems, customerContact, photos } = await response.json();
  // What this phone changed and has not sent yet shows as done already, including a change
  // made while this view was being drawn (else a tick would show undone and be tapped twice).
  /** @type {any[]} */
  let waitingChanges = [];
  for (let seen = -1; seen !== queued();) {
    seen = queued();
    waitingChanges = await waiting();
  }
  for (const change of waitingChanges.filter((e) => e.jobId === job.id)) {
    if (change.status) job.status = change.status;
    for (const tick of change.checklist || []) {
      const item = checklistItems.find((i) => i.id === tick.itemId);
      if (item) item.done = tick.done;
    }
  }
  const next = NEXT[job.status];
  show(app, html`<p><a href="#">${t("back")}</a></p><h2 data-status="${job.status}">${job.customerName}</h2>
    <p class="muted">${job.serviceType} · ${statusText(job.status)} · ${job.address}<br>${customerContact.phone}</p>
    <p>${job.notes}</p>
    <div class="steps">${next && html`<button id="step">${t(next)}</button>`}
    <button class="ghost" id="checkin">${t("checkIn")}</button></div>
    <h3>${t("checklist")}</h3>${checklistItems.map((item) => html`<label class="check">
    <input type="checkbox" data-item="${item.id}" ${item.done && "checked"}> ${item.label}</label>`)}
    <h3>${t("photos")}</h3><div class="photos">${photos.map((photo) => photo.thumbnailUrl
      ? html`<a href="${photo.url}" target="_blank"><img src="${photo.thumbnailUrl}" alt="${photo.kind}"></a>`
      : html`<span class="tag">${t("processing")}</span>`)}</div>
    <label class="ghost button">${t("addPhoto")}<input id="photo" type="file" accept="image/*" capture="environment" hidden></label>`);
  /** @param {Record<string, any>} change */
  const queue = (change) => enqueueChange({ jobId: job.id, baseVersion: job.version, ...change });
  if (next) {
    const step = /** @type {HTMLButtonElement} */ (byId("step"));
    step.onclick = () => {
      step.disabled = true; // one tap, one change
      queue({ status: next }).then(actions.route);
    };
  }
  app.querySelectorAll("[data-item]").forEach((element) => {
    const box = /** @type {HTMLInputElement} */ (element);
    box.onchange = () => queue({ checklist: [{ itemId: box.dataset.item, done: box.checked }] });
  });
  byId("checkin").onclick = () => checkIn(job.id);
  byId("photo").onchange = async (event) => {
    const kind = job.status === "completed" || job.status === "in_progress" ? "after" : "before";
    for (const file of /** @type {HTMLInputElement} */ (event.target).files || []) await keepPhoto(job.id, kind, file);
    registerSync();
    await flushNow();
  };
}

// Photos shared from the camera app wait in the worker's share inbox: pick a job for them.
export async function showShared() {
  const inbox = await caches.open(vocabulary.caches.shareInbox);
  const files = await inbox.keys();
  const response = await api(dayFeed(0, 100));
  /** @type {{ jobs: any[] }} */
  const { jobs } = response.ok ? await response.json() : { jobs: [] };
  show(app, html`<h2>${t("shared")} (${files.length})</h2>
    <select id="target">${jobs.map((job) => html`<option value="${job.id}">${clock(job.scheduledDate)}
    ${job.customerName}</option>`)}</select>
    <button id="attach" ${!(jobs.length && files.length) && "disabled"}>${t("attach")}</button>`);
  byId("attach").onclick = async () => {
    const jobId = /** @type {HTMLSelectElement} */ (byId("target")).value;
    if (!jobId) return;
    for (const request of files) {
      const file = await inbox.match(request);
      if (file) await keepPhoto(jobId, "other", await file.blob());
      await inbox.delete(request);
    }
    registerSync();
    location.hash = `job/${jobId}`;
    await flushNow();
  };
}

/** @param {string} jobId */
function checkIn(jobId) {
  navigator.geolocation.getCurrentPosition((at) => enqueueChange({ checkIn: true, jobId, type: "in",
    accuracy: at.coords.accuracy, location: { lat: at.coords.latitude, lng: at.coords.longitude } }));
}
