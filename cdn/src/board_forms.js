// The dispatch board's forms, in its panel: a new job (customer, service, when, how long,
// priority, notes, checklist, crew), a job's crew, and the reason for reopening a completed
// job. Every field has its label; a refusal is shown by the form, and the fields the server
// named are marked.
import { LARGEST_CREW, chosenCrew, crewPicker, wireCrewPicker } from "./board_crew.js";
import { crewOf, customersNamed, detailOf, send, staffFor } from "./board_data.js";
import { panelHead } from "./board_detail.js";
import { codeText, counted } from "./board_text.js";
import { html, show } from "./html.js";
import { t } from "./i18n.js";
import vocabulary from "./vocabulary.js";

const BANGKOK = "+07:00";

/** @param {HTMLElement} element @param {import("./board_panel.js").Board} board */
export async function showNewJob(element, board) {
  const services = [...new Set(board.jobs.map((job) => job.serviceType))].sort();
  const staff = await staffFor([], true);
  show(element, html`<form id="new-job" novalidate>${panelHead(t("board.newJob"), false)}
    <label for="nj-find">${t("board.findCustomer")}</label>
    <input id="nj-find" type="search" autocomplete="off" aria-controls="nj-customer">
    <label for="nj-customer">${t("board.customer")}</label>
    <select id="nj-customer" name="customerId" required size="5"></select>
    <label for="nj-service">${t("board.service")}</label>
    <input id="nj-service" name="serviceType" required maxlength="60" list="nj-services" autocomplete="off">
    <datalist id="nj-services">${services.map((s) => html`<option value="${s}">`)}</datalist>
    <div class="pair"><div><label for="nj-date">${t("board.date")}</label>
    <input id="nj-date" name="date" type="date" required value="${board.day}"></div>
    <div><label for="nj-time">${t("board.time")}</label>
    <input id="nj-time" name="time" type="time" required value="09:00"></div></div>
    <div class="pair"><div><label for="nj-duration">${t("board.duration")}</label>
    <input id="nj-duration" name="durationMinutes" type="number" required min="15" max="1440" step="15" value="120"></div>
    <div><label for="nj-priority">${t("board.priority")}</label>
    <select id="nj-priority" name="priority">${vocabulary.priorities.map((p) =>
      html`<option value="${p}" ${p === "normal" && "selected"}>${codeText("board.priority", p)}</option>`)}</select></div></div>
    <label for="nj-notes">${t("board.notes")}</label>
    <textarea id="nj-notes" name="notes" maxlength="4000" rows="2"></textarea>
    <label for="nj-checklist">${t("board.checklistLines")}</label>
    <textarea id="nj-checklist" name="checklist" rows="3"></textarea>
    ${crewPicker(staff, [])}
    <p class="error" aria-live="assertive" id="form-error"></p>
    <div class="actions"><button>${t("board.create")}</button></div></form>`);
  const form = /** @type {HTMLFormElement} */ (element.querySelector("form"));
  await findCustomers(form);
  wireForm(form, board, async () => {
    const data = new FormData(form);
    const crew = chosenCrew(form);
    const job = {
      customerId: data.get("customerId"),
      serviceType: String(data.get("serviceType")).trim(),
      scheduledDate: `${data.get("date")}T${data.get("time")}:00${BANGKOK}`,
      durationMinutes: Number(data.get("durationMinutes")),
      priority: data.get("priority"),
      notes: String(data.get("notes")).trim(),
      checklist: String(data.get("checklist")).split("\n").map((line) => line.trim()).filter(Boolean),
      ...(crew.length && { assigneeIds: crew }),
    };
    const answer = await send("/api/dispatch/jobs", "POST", job);
    if (answer.ok) board.open({ kind: "job", id: answer.body.job.id });
    return answer;
  });
}

/**
 * The customers whose name holds what is typed, as the options of the customer list (the one
 * picked stays picked while it matches); the first ones at once.
 * @param {HTMLFormElement} form
 */
async function findCustomers(form) {
  const find = /** @type {HTMLInputElement} */ (form.querySelector("#nj-find"));
  const list = /** @type {HTMLSelectElement} */ (form.querySelector("#nj-customer"));
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let typing;
  const fill = async () => {
    const asked = find.value.trim();
    const found = await customersNamed(asked);
    if (asked !== find.value.trim()) return; // typed on meanwhile
    const picked = list.value;
    show(list, html`${found.map((c) => html`<option value="${c.id}" ${c.id === picked && "selected"}>
      ${c.name}${c.address && ` · ${c.address}`}</option>`)}`);
  };
  find.onkeydown = (event) => { if (event.key === "Enter") event.preventDefault(); }; // not a submit
  find.oninput = () => {
    clearTimeout(typing);
    typing = setTimeout(fill, 250);
  };
  await fill();
}

/** @param {HTMLElement} element @param {import("./board_panel.js").Board} board @param {string} id */
export async function showCrewForm(element, board, id) {
  const [detail, staff] = await Promise.all([detailOf(id), staffFor([], true)]);
  if (!detail) return;
  const { job } = detail;
  show(element, html`<form id="crew-form" novalidate>${panelHead(t("board.assignCrew"), false)}
    <p>${job.customerName} · ${job.serviceType}</p>
    ${crewPicker(staff, crewOf(job))}
    <p class="error" aria-live="assertive" id="form-error"></p>
    <div class="actions"><button>${t("save")}</button>
    <button type="button" class="ghost" data-back>${t("back")}</button></div></form>`);
  const form = /** @type {HTMLFormElement} */ (element.querySelector("form"));
  form.querySelector("[data-back]")?.addEventListener("click", () => board.open({ kind: "job", id }));
  wireForm(form, board, async () => {
    const crew = chosenCrew(form);
    if (!crew.length) return { ok: false, body: { detail: t("board.pickSomeone") } };
    const answer = await send(`/api/dispatch/jobs/${id}/assign`, "POST", { assigneeIds: crew });
    if (answer.ok) board.open({ kind: "job", id });
    return answer;
  });
}

/** @param {HTMLElement} element @param {import("./board_panel.js").Board} board @param {string} id */
export async function showReopen(element, board, id) {
  const detail = await detailOf(id);
  if (!detail) return;
  show(element, html`<form id="reopen-form" novalidate>${panelHead(t("board.reopen"), false)}
    <p>${detail.job.customerName} · ${detail.job.serviceType}</p>
    <label for="reopen-reason">${t("board.reopenReason")}</label>
    <textarea id="reopen-reason" name="reason" required maxlength="1000" rows="3"></textarea>
    <p class="error" aria-live="assertive" id="form-error"></p>
    <div class="actions"><button>${t("board.reopen")}</button>
    <button type="button" class="ghost" data-back>${t("back")}</button></div></form>`);
  const form = /** @type {HTMLFormElement} */ (element.querySelector("form"));
  form.querySelector("[data-back]")?.addEventListener("click", () => board.open({ kind: "job", id }));
  wireForm(form, board, async () => {
    const reason = String(new FormData(form).get("reason")).trim();
    const answer = await send(`/api/dispatch/jobs/${id}/reopen`, "POST", { reason });
    if (answer.ok) board.open({ kind: "job", id });
    return answer;
  });
}

/**
 * Submit through ``submit`` once at a time: the browser's own checks first (shown by the form,
 * in the person's words where the form has them), then the server's answer.
 * @param {HTMLFormElement} form @param {import("./board_panel.js").Board} board
 * @param {() => Promise<{ ok: boolean, body: any }>} submit
 */
function wireForm(form, board, submit) {
  wireCrewPicker(form);
  form.querySelector("[data-close]")?.addEventListener("click", board.close);
  const error = /** @type {HTMLElement} */ (form.querySelector("#form-error"));
  form.onsubmit = async (event) => {
    event.preventDefault();
    form.querySelectorAll("[aria-invalid]").forEach((field) => field.removeAttribute("aria-invalid"));
    const invalid = /** @type {HTMLInputElement | null} */ (form.querySelector(":invalid:not(fieldset)"));
    if (invalid) return refuse(form, error, invalid.validationMessage, [invalid.name]);
    if (chosenCrew(form).length > LARGEST_CREW) return refuse(form, error, counted("board.crewTooLarge", LARGEST_CREW), []);
    const button = /** @type {HTMLButtonElement} */ (form.querySelector("button:not([type])"));
    button.disabled = true;
    const answer = await submit();
    button.disabled = false;
    if (answer.ok) return board.changed();
    /** @type {{ field: string }[]} */
    const fields = answer.body.errors || [];
    refuse(form, error, answer.body.detail || t("noSignal"), fields.map((f) => f.field));
  };
}

/** @param {HTMLFormElement} form @param {HTMLElement} error @param {string} message @param {string[]} names */
function refuse(form, error, message, names) {
  error.textContent = message;
  const fields = names.map((name) => form.querySelector(`[name="${CSS.escape(name)}"]`)).filter(Boolean);
  fields.forEach((field) => field?.setAttribute("aria-invalid", "true"));
  /** @type {HTMLElement | null | undefined} */ (fields[0])?.focus();
}
