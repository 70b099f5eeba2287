// The dispatch board: today's jobs of the branch by status (the server's statuses, all but
// cancelled), their priority, and the team's phones (a lost one can be signed out here, which
// also locks its offline copy).
import { html, show } from "./html.js";
import { statusText, t } from "./i18n.js";
import { api, dayFeed } from "./page.js";
import vocabulary from "./vocabulary.js";
import { footer, wireFooter } from "./views.js";

const app = /** @type {HTMLElement} */ (document.getElementById("app"));
/** @param {string} iso */
const clock = (iso) => iso.slice(11, 16);

/** @param {import("./session.js").User} user @param {() => void} signedOut */
export async function showBoard(user, signedOut) {
  const [feed, phones] = await Promise.all([api(dayFeed(0, 200)), api("/api/dispatch/devices")]);
  if (!feed.ok) return;
  /** @type {{ jobs: any[] }} */
  const { jobs } = await feed.json();
  /** @type {{ devices: any[] }} */
  const { devices } = phones.ok ? await phones.json() : { devices: [] };
  const redraw = () => showBoard(user, signedOut);
  show(app, html`<h2>${t("board")}</h2><div class="board">${vocabulary.board.map((status) => {
    const here = jobs.filter((job) => job.status === status);
    return html`<section><h3>${statusText(status)} <span class="tag">${here.length}</span></h3>${here.map((job) => html`
      <div class="card"><strong>${clock(job.scheduledDate)}</strong> ${job.customerName}
      <br><span class="muted">${job.serviceType}</span>
      <select data-job="${job.id}" aria-label="priority">${vocabulary.priorities.map((p) =>
        html`<option ${p === job.priority && "selected"}>${p}</option>`)}</select></div>`)}</section>`;
  })}</div><h3>${t("phones")}</h3><ul class="jobs">${devices.map((d) => html`
    <li>${d.userName} · ${d.name}<br><span class="muted">${t("lastSeen")} ${clock(d.lastContactAt)}
    ${d.clockSkewSeconds ? html` · ${t("skew")} ${Math.round(d.clockSkewSeconds)} s` : ""}</span>
    <button class="ghost" data-revoke="${d.id}">${t("revoke")}</button></li>`)}</ul>${footer()}`);
  wireFooter(user, signedOut);
  app.querySelectorAll("[data-job]").forEach((element) => {
    const select = /** @type {HTMLSelectElement} */ (element);
    select.onchange = () => api(`/api/dispatch/jobs/${select.dataset.job}`,
      { method: "PATCH", body: JSON.stringify({ priority: select.value }) }).then(redraw);
  });
  app.querySelectorAll("[data-revoke]").forEach((element) => {
    const button = /** @type {HTMLButtonElement} */ (element);
    button.onclick = () => api(`/api/dispatch/devices/${button.dataset.revoke}`, { method: "DELETE" }).then(redraw);
  });
}
