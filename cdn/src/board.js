// The dispatch board: a day's jobs of the branch by status (the server's statuses, all but
// cancelled), each with its time, customer, crew by name (lead first) and priority; the open
// alerts; a panel for a job's detail and the office's forms; and the team's phones (a lost
// one can be signed out here, which also locks its offline copy). The day is in the address
// (#board/2026-11-24; today without one). Every live event redraws the day, the alerts and a
// detail on show, never a form being filled in; draws run one at a time, the latest last.
import { alertsList, wireAlerts } from "./board_alerts.js";
import { addDays, crewOf, detailOf, jobsOn, openAlerts, send, staffFor, today } from "./board_data.js";
import { closeView, focusMark, openView, refreshView } from "./board_panel.js";
import { clock, codeText, dayInWords, namesOf } from "./board_text.js";
import { html, show } from "./html.js";
import { reasonText, speak, statusText, t } from "./i18n.js";
import { api } from "./page.js";
import vocabulary from "./vocabulary.js";
import { footer, wireFooter } from "./views.js";

const app = /** @type {HTMLElement} */ (document.getElementById("app"));
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const FIRST_DAY = "1900-01-01"; // the server holds times from 1900 to 2200

/** @type {(() => Promise<void>) | null} */
let asked = null;
/** @type {Promise<void> | null} */
let drawing = null;
/** @type {import("./board_panel.js").Board} */
const board = {
  day: today(),
  jobs: [],
  open: (view) => { openView(board, view); },
  close: () => closeView(),
  changed: () => { // after the board's own write: drawn again if it is still on screen
    if (!app.querySelector(".dispatch")) return;
    asked ??= latest;
    drawNext();
  },
};
/** @type {() => Promise<void>} */
let latest = async () => {};

/** @param {import("./session.js").User} user @param {() => void} signedOut */
export function showBoard(user, signedOut) {
  latest = asked = () => draw(user, signedOut);
  return drawNext();
}

function drawNext() {
  drawing ??= (async () => {
    while (asked) {
      const next = asked;
      asked = null;
      await next().catch(() => {}); // no signal: the next event or action draws again
    }
    drawing = null;
  })();
  return drawing;
}

/** The day the address asks for. */
function dayAsked() {
  const [view, day] = location.hash.slice(1).split("/");
  return view === "board" && DAY.test(day) ? day : today();
}

/** @param {string} day */
const goTo = (day) => { location.hash = day === today() ? "board" : `board/${day}`; };

/** @param {import("./session.js").User} user @param {() => void} signedOut */
async function draw(user, signedOut) {
  speak(user.locale);
  const address = location.hash;
  const day = dayAsked();
  const [jobs, alerts, phones] = await Promise.all([jobsOn(day), openAlerts(), api("/api/dispatch/devices")]);
  if (!jobs || location.hash !== address) return; // another screen was asked for meanwhile
  /** @type {{ devices: any[] }} */
  const { devices } = phones.ok ? await phones.json() : { devices: [] };
  jobs.sort((a, b) => a.scheduledDate.localeCompare(b.scheduledDate));
  const staff = await staffFor(jobs.flatMap(crewOf));
  const held = await Promise.all(jobs.filter((job) => job.status === vocabulary.onHold)
    .map((job) => detailOf(job.id, job.version)));
  const problems = new Map(held.map((detail) => [detail?.job.id, detail?.problems?.at(-1)]));
  const labels = await jobLabels(jobs, alerts);
  Object.assign(board, { day, jobs });
  const drawn = /** @type {HTMLElement | null} */ (app.querySelector(".dispatch"));
  if (drawn?.lang !== document.documentElement.lang) { // first, or in the other language now
    closeView();
    show(app, skeleton());
    wireFooter(user, signedOut);
    wireDayBar();
  }
  showDay(day);
  keepingFocus(() => {
    show(byId("board-alerts"), alertsList(alerts, labels, staff));
    show(byId("columns"), columns(jobs, staff, problems));
    show(byId("phones"), phoneList(devices));
  });
  wire();
  await refreshView(board);
}

/**
 * The customer and time of the alerts' jobs: the day's, and the others' from their details
 * (kept once read: an alert is about what was planned).
 * @param {import("./board_data.js").Job[]} jobs @param {import("./board_data.js").Alert[]} alerts
 */
async function jobLabels(jobs, alerts) {
  /** @type {Map<string, { customerName: string, scheduledDate: string }>} */
  const labels = new Map(jobs.map((job) => [job.id, job]));
  const others = new Set(alerts.map((alert) => alert.jobId ?? "").filter((id) => id && !labels.has(id)));
  for (const detail of await Promise.all([...others].map((id) => detailOf(id, 0)))) {
    if (detail) labels.set(detail.job.id, detail.job);
  }
  return labels;
}

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const skeleton = () => html`<div class="dispatch" lang="${document.documentElement.lang}"><div class="board-head">
  <div><h2>${t("board")}</h2><p id="day-words" class="muted" aria-live="polite"></p></div>
  <div class="day-bar"><button type="button" class="ghost" id="prev-day" aria-label="${t("board.prevDay")}">‹</button>
  <input type="date" id="day" aria-label="${t("board.day")}" required>
  <button type="button" class="ghost" id="next-day" aria-label="${t("board.nextDay")}">›</button>
  <button type="button" class="ghost" id="to-today">${t("board.today")}</button>
  <button type="button" id="new-job">${t("board.newJob")}</button></div></div>
  <section id="board-alerts" class="board-alerts" aria-labelledby="board-alerts-title"></section>
  <div id="columns" class="board"></div>
  <aside id="panel" class="panel" hidden aria-labelledby="panel-title"></aside>
  <section class="phones"><h3>${t("phones")}</h3><ul class="jobs" id="phones"></ul></section>
  ${footer()}</div>`;

/** The day shown, in words and in the date field (unless someone is typing in it). @param {string} day */
function showDay(day) {
  byId("day-words").textContent = dayInWords(day);
  const field = /** @type {HTMLInputElement} */ (byId("day"));
  if (document.activeElement !== field) field.value = day;
  /** @type {HTMLButtonElement} */ (byId("to-today")).disabled = day === today();
}

/**
 * @param {import("./board_data.js").Job[]} jobs
 * @param {Map<string, import("./board_data.js").Person>} staff
 * @param {Map<string | undefined, any>} problems the latest problem of each job on hold
 */
const columns = (jobs, staff, problems) => html`${vocabulary.board.map((status) => {
  const here = jobs.filter((job) => job.status === status);
  return html`<section data-column="${status}" aria-labelledby="column-${status}">
    <h3 id="column-${status}">${statusText(status)} <span class="tag">${here.length}</span></h3>
    ${here.map((job) => card(job, namesOf(staff, crewOf(job)), problems.get(job.id)))}</section>`;
})}`;

/** @param {import("./board_data.js").Job} job @param {string[]} names lead first @param {any} problem */
const card = (job, names, problem) => html`<div class="card${job.priority === "urgent" ? " urgent" : ""}" data-card="${job.id}">
  <strong>${clock(job.scheduledDate)}</strong> ${job.customerName}
  <br><span class="muted">${job.serviceType}</span>
  <p class="crew">${names.length ? html`<strong>${names[0]}</strong>${names.slice(1).map((name) => `, ${name}`)}`
    : html`<span class="muted">${t("board.noCrew")}</span>`}</p>
  ${problem && html`<p class="problem">⚠ ${reasonText(problem.reason)}${problem.note && ` · ${problem.note}`}</p>`}
  <div class="card-actions"><select data-job="${job.id}" aria-label="${t("board.priority")}: ${clock(job.scheduledDate)} ${job.customerName}">
  ${vocabulary.priorities.map((p) => html`<option value="${p}" ${p === job.priority && "selected"}>${codeText("board.priority", p)}</option>`)}</select>
  <button type="button" class="ghost" data-open="${job.id}">${t("board.details")}</button></div></div>`;

/** @param {any[]} devices */
const phoneList = (devices) => html`${devices.map((d) => html`
  <li>${d.userName} · ${d.name}<br><span class="muted">${t("lastSeen")} ${clock(d.lastContactAt)}
  ${d.clockSkewSeconds ? html` · ${t("skew")} ${Math.round(d.clockSkewSeconds)} s` : ""}</span>
  <button class="ghost" data-revoke="${d.id}">${t("revoke")}</button></li>`)}`;

/** Redraw what ``render`` redraws, the focus kept on the same control (a keyboard stays put). @param {() => void} render */
function keepingFocus(render) {
  const panel = byId("panel");
  const mark = panel.contains(document.activeElement) ? null : focusMark(document.activeElement);
  render();
  if (mark && !app.contains(document.activeElement)) /** @type {HTMLElement | null} */ (app.querySelector(mark))?.focus();
}

function wireDayBar() {
  const field = /** @type {HTMLInputElement} */ (byId("day"));
  // A date typed digit by digit passes through years like 0002: only one the server can hold.
  field.onchange = () => { if (DAY.test(field.value) && field.value >= FIRST_DAY) goTo(field.value); };
  byId("prev-day").onclick = () => goTo(addDays(board.day, -1));
  byId("next-day").onclick = () => goTo(addDays(board.day, 1));
  byId("to-today").onclick = () => goTo(today());
  byId("new-job").onclick = () => board.open({ kind: "new" });
}

function wire() {
  wireAlerts(byId("board-alerts"), board);
  app.querySelectorAll("[data-job]").forEach((element) => {
    const select = /** @type {HTMLSelectElement} */ (element);
    select.onchange = () => send(`/api/dispatch/jobs/${select.dataset.job}`, "PATCH", { priority: select.value })
      .then(board.changed);
  });
  app.querySelectorAll("[data-open]").forEach((element) => {
    const button = /** @type {HTMLButtonElement} */ (element);
    button.onclick = () => board.open({ kind: "job", id: /** @type {string} */ (button.dataset.open) });
  });
  app.querySelectorAll("[data-revoke]").forEach((element) => {
    const button = /** @type {HTMLButtonElement} */ (element);
    button.onclick = () => api(`/api/dispatch/devices/${button.dataset.revoke}`, { method: "DELETE" }).then(board.changed);
  });
}
