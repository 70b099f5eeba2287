// One job as its crew works it: the step buttons (the crew's lead only), checking in and out
// (recorded without a place, and saying so, when the phone's location is refused or cannot
// be found), calling the customer and the way there, the checklist, photos, the field's notes
// (problems and remarks, with who and when), and the form that reports a problem. What this
// phone did and has not sent yet shows as done already.
import { html, show } from "./html.js";
import { dateText, reasonText, reasons, statusText, t, timeText } from "./i18n.js";
import { queued, waiting } from "./outbox.js";
import { actions, enqueueChange, fetcher, flushNow, registerSync } from "./page.js";
import { user } from "./session.js";
import { bytesSaved, keepShrunk } from "./shrink.js";
import { read, write } from "./store.js";
import vocabulary from "./vocabulary.js";

const NEXT = vocabulary.steps;
// As server/jobs/states.py has them: a problem puts a job on hold; the lead's arrival moves
// a job not yet started along; only a job assigned, under way or on hold takes a report.
const ON_HOLD = vocabulary.onHold;
const ARRIVAL_MOVES = vocabulary.arrival.from;
const ARRIVED = vocabulary.arrival.to;
const REPORTABLE = vocabulary.reportable;
const MAPS = "https://www.google.com/maps/search/?api=1&query=";
const LOCATING_MS = 20e3;
const app = /** @type {HTMLElement} */ (document.getElementById("app"));

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} at */
const when = (at) => `${dateText(at)} ${timeText(at)}`;
/** @param {number} bytes */
const megabytes = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`;
/** @param {string} jobId */
const visitKey = (jobId) => `visit ${jobId}`;

// A job this person may no longer see (or, with no signal, one never kept): the list.
const gone = () => { location.hash = ""; };

/** Per job, why the last check-in or check-out went without a place (a translation key). */
const unplaced = new Map();

/**
 * The job's detail with what this phone queued for it and has not sent yet applied, including
 * a change queued while it was being read (else a tick would show undone and be tapped twice).
 * @param {string} id
 */
async function detail(id) {
  const response = await fetcher()(`/api/mobile/jobs/${id}`);
  if (!response.ok) return null;
  const shown = await response.json();
  shown.crew ||= [];
  shown.remarks ||= [];
  shown.problems ||= [];
  /** @type {any[]} */
  let entries = [];
  for (let seen = -1; seen !== queued();) {
    seen = queued();
    entries = await waiting();
  }
  entries.filter((e) => e.jobId === shown.job.id).forEach((change) => unsent(shown, change));
  return shown;
}

/** @param {any} shown @param {Record<string, any>} change */
function unsent(shown, change) {
  const { job, checklistItems } = shown;
  const me = user();
  if (change.status) job.status = change.status;
  for (const tick of change.checklist || []) {
    const item = checklistItems.find((/** @type {any} */ i) => i.id === tick.itemId);
    if (item) item.done = tick.done;
  }
  if (change.kind === "checkIn" && change.type === "in" && job.assigneeId === me?.id &&
      ARRIVAL_MOVES.includes(job.status)) job.status = ARRIVED;
  if (change.kind === "issue") {
    job.status = ON_HOLD;
    shown.problems.push({ reason: change.reason, note: change.note || "", reportedByName: me?.name,
      reportedAt: change.at, waiting: true });
  }
  if (change.kind === "remark") {
    shown.remarks.push({ text: change.text, authorName: me?.name, createdAt: change.at, waiting: true });
  }
}

/** @param {string} id */
export async function showJob(id) {
  const shown = await detail(id);
  if (!shown) return gone();
  const { job, checklistItems, customerContact, photos } = shown;
  const lead = job.assigneeId === user()?.id;
  const next = NEXT[job.status];
  /** @type {{ type: string, at: string } | undefined} */
  const visit = await read("meta", visitKey(job.id));
  const leaving = visit?.type === "in";
  const saved = await bytesSaved();
  show(app, html`<p><a href="#">${t("back")}</a></p><h2 data-status="${job.status}">${job.customerName}</h2>
    <p class="muted">${job.serviceType} · <span class="tag ${job.status}">${statusText(job.status)}</span>
    · ${dateText(job.scheduledDate)} ${timeText(job.scheduledDate)}</p>
    ${job.status === ON_HOLD && html`<p class="hold">${t("onHoldNote")}</p>`}
    <p>${job.address}</p>${reach(customerContact.phone, job.address, shown.location)}${crewLine(shown.crew)}
    <p>${job.notes}</p>
    <div class="steps">${lead && next && html`<button id="step">${t(next)}</button>`}
    <button class="ghost" id="visit">${t(leaving ? "checkOut" : "checkIn")}</button>
    ${REPORTABLE.includes(job.status) && html`<a class="button warn" id="report" href="#problem/${job.id}">${t("reportProblem")}</a>`}</div>
    ${visit && html`<p class="muted" id="visited">${t(leaving ? "checkedIn" : "checkedOut")} ${timeText(visit.at)}</p>`}
    <p class="warn" id="unplaced" aria-live="assertive" ${!unplaced.get(job.id) && "hidden"}>${t(unplaced.get(job.id) || "")}</p>
    ${!lead && next && html`<p class="muted">${t("leadMoves")}</p>`}
    <h3>${t("checklist")}</h3>${checklistItems.map((/** @type {any} */ item) => html`<label class="check">
    <input type="checkbox" data-item="${item.id}" ${item.done && "checked"}> ${item.label}</label>`)}
    <h3>${t("photos")}</h3><div class="photos">${photos.map((/** @type {any} */ photo) => photo.thumbnailUrl
      ? html`<a href="${photo.url}" target="_blank"><img src="${photo.thumbnailUrl}" alt="${photo.kind}"></a>`
      : html`<span class="tag">${t("processing")}</span>`)}</div>
    <label class="ghost button">${t("addPhoto")}<input id="photo" type="file" accept="image/*" capture="environment" hidden></label>
    ${saved > 0 && html`<p class="muted" id="saved" data-bytes="${saved}">${t("photosShrunk")}: ${megabytes(saved)}</p>`}
    <h3>${t("fieldNotes")}</h3>${fieldNotes(shown)}
    <form id="remark" autocomplete="off"><textarea name="text" maxlength="1000" rows="2" required placeholder="${t("remarkHint")}"></textarea>
    <button>${t("addRemark")}</button></form>`);
  wireJob(job, leaving ? "out" : "in");
}

/** @param {any} job @param {"in" | "out"} type */
function wireJob(job, type) {
  /** @param {Record<string, any>} change */
  const queue = (change) => enqueueChange("update", { jobId: job.id, baseVersion: job.version, ...change });
  const step = /** @type {HTMLButtonElement | null} */ (document.getElementById("step"));
  if (step) {
    step.onclick = () => {
      step.disabled = true; // one tap, one change
      queue({ status: NEXT[job.status] }).then(actions.route);
    };
  }
  app.querySelectorAll("[data-item]").forEach((element) => {
    const box = /** @type {HTMLInputElement} */ (element);
    box.onchange = () => queue({ checklist: [{ itemId: box.dataset.item, done: box.checked }] });
  });
  const visit = /** @type {HTMLButtonElement} */ (byId("visit"));
  visit.onclick = () => checkIn(job.id, type, visit).then(actions.route);
  byId("photo").onchange = async (event) => {
    const kind = job.status === "completed" || job.status === "in_progress" ? "after" : "before";
    for (const file of /** @type {HTMLInputElement} */ (event.target).files || []) await keepShrunk(job.id, kind, file);
    registerSync();
    await flushNow();
  };
  const remark = /** @type {HTMLFormElement} */ (byId("remark"));
  remark.onsubmit = (event) => {
    event.preventDefault();
    const text = String(new FormData(remark).get("text")).trim();
    if (!text) return;
    /** @type {HTMLButtonElement} */ (remark.querySelector("button")).disabled = true;
    enqueueChange("remark", { jobId: job.id, text }).then(actions.route);
  };
}

/** Problems and remarks, oldest first, each with who and when. @param {any} shown */
function fieldNotes({ problems, remarks }) {
  /** @type {{ at: string, who: string, text: string, reason?: string, waiting?: boolean }[]} */
  const notes = [
    ...problems.map((/** @type {any} */ p) => ({ at: p.reportedAt, who: p.reportedByName, text: p.note,
      reason: p.reason, waiting: p.waiting })),
    ...remarks.map((/** @type {any} */ r) => ({ at: r.createdAt, who: r.authorName, text: r.text, waiting: r.waiting })),
  ].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return html`<ul class="notes">${notes.map((note) => html`<li class="${note.reason && "problem"}">
    <span class="muted">${note.who} · ${when(note.at)}${note.waiting && html` · ${t("waiting")}`}</span><br>
    ${note.reason && html`<strong>${t("problem")}: ${reasonText(note.reason)}</strong><br>`}${note.text}</li>`)}</ul>`;
}

/**
 * A call to the customer and the way there: maps at the job's place, or its address when it
 * has none.
 * @param {string} phone @param {string} address @param {any} place
 */
function reach(phone, address, place) {
  const known = place && typeof place.lat === "number" && typeof place.lng === "number";
  const map = MAPS + encodeURIComponent(known ? `${place.lat},${place.lng}` : address);
  return html`<div class="steps contact">${phone && html`<a class="button ghost" id="call"
    href="tel:${phone.replace(/[^\d+]/g, "")}">${t("call")} ${phone}</a>`}
    <a class="button ghost" id="map" href="${map}" target="_blank" rel="noopener">${t("openMap")}</a></div>`;
}

/** Who works the job, the lead first and marked. @param {{ name: string }[]} crew */
const crewLine = (crew) => crew.length > 0 && html`<p class="crew"><span class="muted">${t("crew")}:</span>${crew.map(
  (person, n) => html` <span class="member">${person.name}${n === 0 && html` <span class="tag">${t("lead")}</span>`}</span>`)}</p>`;

/**
 * Check in or out: with where the phone is if it can tell, else without, and saying why.
 * @param {string} jobId @param {"in" | "out"} type @param {HTMLButtonElement} button
 */
async function checkIn(jobId, type, button) {
  button.disabled = true;
  button.textContent = t("locating");
  const { missing, ...where } = await whereAmI();
  unplaced.set(jobId, missing);
  const said = byId("unplaced"); // at once: sending may take a while
  said.textContent = missing ? t(missing) : "";
  said.hidden = !missing;
  await write("meta", visitKey(jobId), { type, at: new Date().toISOString() });
  await enqueueChange("checkIn", { jobId, type, ...where });
}

/** @returns {Promise<{ location?: { lat: number, lng: number }, accuracy?: number, missing?: string }>} */
function whereAmI() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve({ missing: "locationUnavailable" });
    navigator.geolocation.getCurrentPosition(
      ({ coords }) => resolve({ location: { lat: coords.latitude, lng: coords.longitude }, accuracy: coords.accuracy }),
      (error) => resolve({ missing: error.code === error.PERMISSION_DENIED ? "locationDenied" : "locationUnavailable" }),
      { enableHighAccuracy: true, timeout: LOCATING_MS, maximumAge: 0 });
  });
}

/** The form that reports a problem with the job (it goes on hold). @param {string} id */
export async function showProblemForm(id) {
  const shown = await detail(id);
  if (!shown) return gone();
  show(app, html`<p><a href="#job/${id}">${t("back")}</a></p><h2>${t("reportProblem")}</h2>
    <p class="muted">${shown.job.customerName} · ${shown.job.address}</p>
    <form id="problem" autocomplete="off"><fieldset><legend>${t("whatHappened")}</legend>${reasons().map((reason, n) => html`
    <label class="check"><input type="radio" name="reason" value="${reason}" ${n === 0 && "required"}> ${reasonText(reason)}</label>`)}
    </fieldset><label for="note">${t("details")}</label><textarea id="note" name="note" maxlength="2000" rows="3"></textarea>
    <label for="problem-photo">${t("problemPhoto")}</label>
    <input id="problem-photo" name="photo" type="file" accept="image/*" capture="environment">
    <button id="send">${t("sendReport")}</button></form>`);
  const form = /** @type {HTMLFormElement} */ (byId("problem"));
  form.onsubmit = async (event) => {
    event.preventDefault();
    /** @type {HTMLButtonElement} */ (byId("send")).disabled = true;
    const data = new FormData(form);
    const photo = data.get("photo");
    const photoId = photo instanceof File && photo.size ? await keepShrunk(id, "other", photo) : null;
    const note = String(data.get("note") || "").trim();
    history.replaceState(null, "", `#job/${id}`); // back from the job goes to the list, not here
    await enqueueChange("issue", { jobId: id, reason: data.get("reason"), ...(note && { note }), ...(photoId && { photoId }) });
    await actions.route();
  };
}
