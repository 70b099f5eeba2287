// The alerts on the dispatch board: what the office should look at (a late start, a check-in
// away from the address, a job completed with its checklist unfinished, a problem reported,
// a phone's change refused), newest first, each with its job, what happened in a line, and
// an Acknowledge button.
import { send } from "./board_data.js";
import { codeText, counted, when } from "./board_text.js";
import { html } from "./html.js";
import { reasonText, t } from "./i18n.js";

/** @typedef {{ customerName: string, scheduledDate: string }} JobLabel */

/**
 * @param {import("./board_data.js").Alert[]} alerts
 * @param {Map<string, JobLabel>} jobs the alerts' jobs, by id
 * @param {Map<string, import("./board_data.js").Person>} staff
 */
export function alertsList(alerts, jobs, staff) {
  const newest = [...alerts].sort((a, b) => b.raisedAt.localeCompare(a.raisedAt));
  return html`<h3 id="board-alerts-title">${t("board.alerts")} <span class="tag">${alerts.length}</span></h3>
    ${newest.length ? html`<ul class="board-alert-list">${newest.map((alert) => {
      const job = alert.jobId ? jobs.get(alert.jobId) : undefined;
      return html`<li class="board-alert${alert.urgent ? " urgent" : ""}" data-kind="${alert.kind}">
        <strong>${codeText("board.alert", alert.kind)}</strong>
        ${alert.urgent && html`<span class="tag urgent">${codeText("board.priority", "urgent")}</span>`}
        <span class="muted">${when(alert.raisedAt)}</span>
        ${job && html`<br>${when(job.scheduledDate)} · ${job.customerName}`}
        <br><span class="muted">${whatHappened(alert, staff)}</span>
        <div class="card-actions">${alert.jobId && html`<button type="button" class="ghost" data-show="${alert.jobId}">${t("board.details")}</button>`}
        <button type="button" data-ack="${alert.id}">${t("board.acknowledge")}</button></div></li>`;
    })}</ul>` : html`<p class="muted">${t("board.noAlerts")}</p>`}`;
}

/**
 * An alert's detail in a line, by its kind (server/alerts/schemas.py: AlertOut.detail).
 * @param {import("./board_data.js").Alert} alert
 * @param {Map<string, import("./board_data.js").Person>} staff
 */
function whatHappened(alert, staff) {
  const detail = /** @type {Record<string, any>} */ (alert.detail || {});
  /** @param {unknown} id */
  const who = (id) => (typeof id === "string" ? staff.get(id)?.name ?? "" : "");
  const parts = {
    late_start: () => [counted("board.minutesLate", detail.minutesLate),
      ...(detail.assigneeIds || []).map(who)],
    offsite_checkin: () => [who(detail.userId), detail.locationMissing ? t("board.noLocation")
      : away(detail.distanceMeters)],
    incomplete_completion: () => [detail.untickedItems?.length
      ? `${t("board.unticked")}: ${detail.untickedItems.join(", ")}` : "",
      detail.afterPhotos ? "" : t("board.noAfterPhoto")],
    issue_reported: () => [reasonText(detail.reason), detail.note, who(detail.reportedBy)],
    sync_rejected: () => [who(detail.userId), detail.message],
  }[alert.kind];
  return (parts ? parts() : []).filter(Boolean).join(" · ");
}

/** How far from the address: metres, or kilometres past one. @param {number} metres */
const away = (metres) => (metres < 1000 ? counted("board.metresAway", Math.round(metres))
  : counted("board.kmAway", (metres / 1000).toFixed(1)));

/**
 * Acknowledge buttons and the buttons that open an alert's job.
 * @param {HTMLElement} element @param {import("./board_panel.js").Board} board
 */
export function wireAlerts(element, board) {
  element.querySelectorAll("[data-ack]").forEach((node) => {
    const button = /** @type {HTMLButtonElement} */ (node);
    button.onclick = async () => {
      button.disabled = true;
      const answer = await send(`/api/dispatch/alerts/${button.dataset.ack}/ack`, "POST", {});
      if (answer.ok) board.changed();
      else button.disabled = false;
    };
  });
  element.querySelectorAll("[data-show]").forEach((node) => {
    const button = /** @type {HTMLButtonElement} */ (node);
    button.onclick = () => board.open({ kind: "job", id: /** @type {string} */ (button.dataset.show) });
  });
}
