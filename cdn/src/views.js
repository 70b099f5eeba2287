// The field screens: signing in, today's jobs, photos shared from the camera app, and the
// footer every list has (notifications, changing the password, signing out); one job is in
// job.js.
import { html, show } from "./html.js";
import { dateText, speak, statusText, t, timeText } from "./i18n.js";
import { dropShared, keepHanded, sharedPhotos } from "./inbox.js";
import { closeLive } from "./live.js";
import { waiting } from "./outbox.js";
import { api, dayFeed, endSession, fetcher, flushNow, registerSync, registerWorker, signOut } from "./page.js";
import { photosWaiting } from "./photos.js";
import { dropPush, pushAsk, subscribe } from "./push.js";
import { remember } from "./session.js";
import { keepShrunk } from "./shrink.js";
import { deviceId } from "./store.js";
import vocabulary from "./vocabulary.js";

const OFFLINE_DETAILS = 30; // job details fetched ahead so they open with no signal
const OFFLINE_REFRESH_MS = 10 * 60e3; // and fetched again at most this often
const NEXT = vocabulary.steps;
const app = /** @type {HTMLElement} */ (document.getElementById("app"));

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

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
    await endSession(); // a sign-out with no signal: its session ends before another begins
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
    closeLive();
    await signOut();
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
  show(app, html`<h2>${t("today")}</h2><p class="muted" id="day">${dateText(Date.now())}</p>${jobs.length ? html`<ul class="jobs">${jobs.map((job) => html`
    <li><a href="#job/${job.id}"><strong>${timeText(job.scheduledDate)}</strong>
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

// Photos shared from the camera app wait, sealed, in the share inbox (inbox.js): pick a job
// for them. What the page was handed while locked joins them now that the key is held.
export async function showShared() {
  await keepHanded();
  const files = await sharedPhotos();
  const response = await api(dayFeed(0, 100));
  /** @type {{ jobs: any[] }} */
  const { jobs } = response.ok ? await response.json() : { jobs: [] };
  show(app, html`<h2>${t("shared")} (${files.length})</h2>
    <select id="target">${jobs.map((job) => html`<option value="${job.id}">${timeText(job.scheduledDate)}
    ${job.customerName}</option>`)}</select>
    <button id="attach" ${!(jobs.length && files.length) && "disabled"}>${t("attach")}</button>`);
  byId("attach").onclick = async () => {
    const jobId = /** @type {HTMLSelectElement} */ (byId("target")).value;
    if (!jobId) return;
    for (const { entry, photo } of files) {
      await keepShrunk(jobId, "other", photo);
      await dropShared(entry);
    }
    registerSync();
    location.hash = `job/${jobId}`;
    await flushNow();
  };
}
