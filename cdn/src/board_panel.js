// The dispatch board's panel: beside the columns on a laptop, over them on a phone. It shows
// one thing at a time: a job's detail, or a form (a new job, a job's crew, a reopening). A
// live redraw refreshes a detail, never a form someone is filling in, and keeps the focus
// where it was. Escape closes it, and the focus goes back where it was before it opened.
import { disarm, showDetail } from "./board_detail.js";
import { showCrewForm, showNewJob, showReopen } from "./board_forms.js";

/** @typedef {{ kind: "job" | "crew" | "reopen" | "new", id?: string }} View */
/**
 * What a view of the panel may read of the board, and do to it.
 * @typedef {{ day: string, jobs: import("./board_data.js").Job[], open: (view: View) => void,
 *   close: () => void, changed: () => void }} Board
 */

/** @type {View | null} */
let view = null;
/** @type {string | null} */
let openedFrom = null; // the id or data-open of what had the focus

const panel = () => /** @type {HTMLElement | null} */ (document.getElementById("panel"));

/** @param {Board} board @param {View} next */
export async function openView(board, next) {
  const element = panel();
  if (!element) return;
  if (!view) openedFrom = focusMark(document.activeElement);
  disarm();
  view = next;
  element.hidden = false;
  element.replaceChildren(); // what it showed is not pressed while the next view loads
  await drawView(board, element);
  /** @type {HTMLElement | null} */ (element.querySelector("[data-first], input, select, textarea"))?.focus();
}

export function closeView() {
  const element = panel();
  disarm();
  view = null;
  if (!element) return;
  element.hidden = true;
  element.replaceChildren();
  if (openedFrom) /** @type {HTMLElement | null} */ (document.querySelector(openedFrom))?.focus();
}

/** Draw the detail shown again (after a live event); a form stays as it is. @param {Board} board */
export async function refreshView(board) {
  const element = panel();
  if (element && view?.kind === "job") await drawView(board, element);
}

/** Draw the view into the panel, unless another was asked for while this one was fetched. @param {Board} board @param {HTMLElement} element */
async function drawView(board, element) {
  const shown = /** @type {View} */ (view);
  const drawn = document.createElement("div");
  const id = /** @type {string} */ (shown.id);
  if (shown.kind === "new") await showNewJob(drawn, board);
  else if (shown.kind === "crew") await showCrewForm(drawn, board, id);
  else if (shown.kind === "reopen") await showReopen(drawn, board, id);
  else await showDetail(drawn, board, id);
  if (view !== shown) return;
  const focused = element.contains(document.activeElement) ? focusMark(document.activeElement) : null;
  element.replaceChildren(...drawn.childNodes);
  if (focused) /** @type {HTMLElement | null} */ (element.querySelector(focused))?.focus();
}

// Escape closes the panel, wherever the focus is (a redraw may have taken it to the page).
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && view && !event.defaultPrevented) closeView();
});

/** A selector finding ``element`` again after a redraw, by its id or what it opens. @param {Element | null} element */
export function focusMark(element) {
  if (!(element instanceof HTMLElement)) return null;
  if (element.id) return `#${CSS.escape(element.id)}`;
  for (const name of ["job", "open", "show", "ack", "action"]) {
    const value = element.dataset[name];
    if (value) return `[data-${name}="${CSS.escape(value)}"]`;
  }
  return null;
}
