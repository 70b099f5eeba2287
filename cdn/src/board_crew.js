// The crew picker of the dispatch board: tick the people of a job's crew and mark its lead
// (the one who moves the job along; the lead goes first in ``assigneeIds``). The people
// already in the crew come first, then the branch's active staff by name; a filter narrows
// a long list. Keyboard: Tab through the boxes, Space ticks.
import { html } from "./html.js";
import { t } from "./i18n.js";
import vocabulary from "./vocabulary.js";

export const LARGEST_CREW = vocabulary.largestCrew; // the server's limit

/**
 * @param {Map<string, import("./board_data.js").Person>} staff
 * @param {string[]} chosen the crew now, lead first
 */
export function crewPicker(staff, chosen) {
  const inCrew = chosen.map((id) => staff.get(id) ?? { id, name: id, active: false });
  const others = [...staff.values()].filter((p) => p.active && !chosen.includes(p.id))
    .sort((a, b) => a.name.localeCompare(b.name));
  return html`<fieldset class="crew-picker"><legend>${t("crew")}</legend>
    <p class="muted" id="crew-help">${t("board.crewHelp")}</p>
    <input type="search" data-filter aria-label="${t("board.findPerson")}" placeholder="${t("board.findPerson")}">
    <ul aria-describedby="crew-help">${[...inCrew, ...others].map((person) => html`
      <li data-name="${person.name.toLowerCase()}">
      <label><input type="checkbox" name="member" value="${person.id}" ${chosen.includes(person.id) && "checked"}>
      ${person.name}</label>
      <label class="lead"><input type="radio" name="lead" value="${person.id}" ${chosen[0] === person.id && "checked"}
      aria-label="${t("lead")}: ${person.name}"> ${t("lead")}</label></li>`)}</ul></fieldset>`;
}

/** Ticking a lead puts them in the crew; taking someone out takes the lead from them. @param {HTMLElement} form */
export function wireCrewPicker(form) {
  const boxes = /** @type {NodeListOf<HTMLInputElement>} */ (form.querySelectorAll("input[name=member]"));
  const leads = /** @type {NodeListOf<HTMLInputElement>} */ (form.querySelectorAll("input[name=lead]"));
  leads.forEach((lead, n) => {
    lead.onchange = () => { boxes[n].checked = true; };
  });
  boxes.forEach((box, n) => {
    box.onchange = () => { if (!box.checked) leads[n].checked = false; };
  });
  const filter = /** @type {HTMLInputElement | null} */ (form.querySelector("[data-filter]"));
  if (!filter) return;
  filter.onkeydown = (event) => { if (event.key === "Enter") event.preventDefault(); }; // not a submit
  filter.oninput = () => {
    const wanted = filter.value.trim().toLowerCase();
    form.querySelectorAll(".crew-picker li").forEach((element) => {
      const row = /** @type {HTMLElement} */ (element);
      row.hidden = Boolean(wanted) && !row.dataset.name?.includes(wanted);
    });
  };
}

/** The crew ticked, lead first (the first ticked when no lead is marked). @param {HTMLFormElement} form */
export function chosenCrew(form) {
  const data = new FormData(form);
  const members = /** @type {string[]} */ (data.getAll("member"));
  const lead = /** @type {string | null} */ (data.get("lead"));
  return lead ? [lead, ...members.filter((id) => id !== lead)] : members;
}
