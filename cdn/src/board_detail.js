// A job in the dispatch board's panel: when and where, its crew (lead first, with their
// phones), the problems the field reported, their remarks and photos, and what the office can
// do to it in its status: assign a crew, resume it from hold, reopen it once completed,
// cancel it.
import { detailOf, send } from "./board_data.js";
import { clock, codeText, when } from "./board_text.js";
import { html, show } from "./html.js";
import { dateText, reasonText, statusText, t } from "./i18n.js";
import vocabulary from "./vocabulary.js";

// The server's rules (server/jobs/states.py): when a crew can be given, a job reopened, and
// which jobs are finished (nothing to cancel).
const ASSIGNABLE = vocabulary.assignable;
const REOPENABLE = vocabulary.reopenable;
const FINISHED = vocabulary.finished;
/** The job whose Cancel was pressed once: the next press cancels it, across redraws. */
let armed = "";

/** Forget a first press of Cancel (the panel was closed or shows something else). */
export const disarm = () => { armed = ""; };

/**
 * @param {HTMLElement} element
 * @param {import("./board_panel.js").Board} board
 * @param {string} id
 */
export async function showDetail(element, board, id) {
  const detail = await detailOf(id);
  if (!detail) {
    show(element, html`${panelHead("", true)}<p class="error">${t("tryLater")}</p>`);
    element.querySelector("[data-close]")?.addEventListener("click", board.close);
    return;
  }
  const { job, crew = [], problems = [], remarks = [], checklistItems = [], photos = [] } = detail;
  const done = checklistItems.filter((item) => item.done).length;
  show(element, html`${panelHead(job.customerName, true)}
    <p><span class="tag" data-status="${job.status}">${statusText(job.status)}</span>
    <span class="tag ${job.priority}">${codeText("board.priority", job.priority)}</span></p>
    <p>${dateText(job.scheduledDate)} ${clock(job.scheduledDate)} · ${job.durationMinutes} ${t("board.minutes")}
    · ${job.serviceType}<br><span class="muted">${job.address}</span></p>
    ${job.notes && html`<p class="notes">${job.notes}</p>`}
    <h4>${t("crew")}</h4>${crew.length ? html`<ul class="people">${crew.map((person, n) => html`
      <li>${person.name} ${n === 0 && html`<span class="tag">${t("lead")}</span>`}
      ${person.phone && html` · <a href="tel:${person.phone}">${person.phone}</a>`}</li>`)}</ul>`
      : html`<p class="muted">${t("board.noCrew")}</p>`}
    ${checklistItems.length ? html`<p>${t("checklist")}: ${done}/${checklistItems.length}</p>` : ""}
    ${problems.length ? html`<h4>${t("board.problems")}</h4><ul class="problems">${problems.map((p) => html`
      <li><strong>${reasonText(p.reason)}</strong> ${p.note && html`· ${p.note}`}
      <br><span class="muted">${p.reportedByName} · ${when(p.reportedAt)}</span></li>`)}</ul>` : ""}
    ${remarks.length ? html`<h4>${t("fieldNotes")}</h4><ul class="remarks">${remarks.map((r) => html`
      <li>${r.text}<br><span class="muted">${r.authorName} · ${when(r.createdAt)}</span></li>`)}</ul>` : ""}
    ${photos.length ? html`<h4>${t("photos")}</h4><div class="photos">${photos.map((photo) => photo.thumbnailUrl
      ? html`<a href="${photo.url}" target="_blank"><img src="${photo.thumbnailUrl}" alt="${photo.kind}"></a>`
      : html`<span class="tag">${t("processing")}</span>`)}</div>` : ""}
    <p class="error" aria-live="assertive" id="panel-error"></p>
    <div class="actions">${actions(job.status, armed === job.id)}</div>`);
  wire(element, board, job);
}

/** @param {string} status @param {boolean} sure Cancel was pressed once */
const actions = (status, sure) => html`
  ${ASSIGNABLE.includes(status) && html`<button data-action="crew">${t("board.assignCrew")}</button>`}
  ${status === vocabulary.onHold && html`<button data-action="resume">${t("board.resume")}</button>`}
  ${REOPENABLE.includes(status) && html`<button data-action="reopen">${t("board.reopen")}</button>`}
  ${!FINISHED.includes(status) && html`<button class="ghost" data-action="cancel">
    ${sure ? t("board.reallyCancel") : t("board.cancelJob")}</button>`}`;

/**
 * The panel's title and its close button (×), which a phone, where the panel covers the
 * board, needs in reach. The focus starts on the title of a detail, in a form's first field.
 * @param {string} title @param {boolean} focused
 */
export const panelHead = (title, focused) => html`<div class="panel-head">
  <h3 id="panel-title" tabindex="-1" ${focused && "data-first"}>${title}</h3>
  <button type="button" class="ghost" data-close aria-label="${t("board.close")}">×</button></div>`;

/** @param {HTMLElement} element @param {import("./board_panel.js").Board} board @param {any} job */
function wire(element, board, job) {
  /** @param {string} name */
  const button = (name) => /** @type {HTMLButtonElement | null} */ (element.querySelector(`[data-action=${name}]`));
  element.querySelector("[data-close]")?.addEventListener("click", board.close);
  button("crew")?.addEventListener("click", () => board.open({ kind: "crew", id: job.id }));
  button("reopen")?.addEventListener("click", () => board.open({ kind: "reopen", id: job.id }));
  button("resume")?.addEventListener("click", () => edit(element, board, job.id, { status: "assigned" }));
  const cancel = button("cancel");
  cancel?.addEventListener("click", () => {
    if (armed !== job.id) { // a second press cancels: no job is lost to a stray tap
      armed = job.id;
      cancel.textContent = t("board.reallyCancel");
      return;
    }
    armed = "";
    edit(element, board, job.id, { status: "cancelled" });
  });
}

/** @param {HTMLElement} element @param {import("./board_panel.js").Board} board @param {string} id @param {Record<string, string>} change */
async function edit(element, board, id, change) {
  element.querySelectorAll("[data-action]").forEach((b) => { /** @type {HTMLButtonElement} */ (b).disabled = true; });
  const answer = await send(`/api/dispatch/jobs/${id}`, "PATCH", change);
  if (answer.ok) return board.changed();
  /** @type {HTMLElement} */ (element.querySelector("#panel-error")).textContent = answer.body.detail || t("noSignal");
  element.querySelectorAll("[data-action]").forEach((b) => { /** @type {HTMLButtonElement} */ (b).disabled = false; });
}
