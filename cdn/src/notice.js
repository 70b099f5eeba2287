// The privacy notice (Thailand's PDPA): what location and photos the app collects, why and for
// how long (the server's own retention settings), shown to a cleaner once per version of its
// text, and acknowledged to the server. Which version this device saw acknowledged is kept,
// so a start does not ask the server again.
import { html, show } from "./html.js";
import { language, noticeText } from "./i18n.js";
import { api } from "./page.js";
import vocabulary from "./vocabulary.js";

const NOTICE_URL = "/api/mobile/privacy-notice";
const app = /** @type {HTMLElement} */ (document.getElementById("app"));

/** @param {string} userId */
const seenKey = (userId) => `${vocabulary.storage.notice}.${userId}`;

/**
 * Show the notice if this person has not acknowledged its current version; true if shown
 * (``done`` follows the acknowledgement). With no signal it waits for the next start.
 * @param {string} userId @param {() => void} done
 */
export async function noticeShown(userId, done) {
  if (localStorage.getItem(seenKey(userId)) === vocabulary.noticeVersion) return false;
  const response = await api(NOTICE_URL).catch(() => null);
  if (!response?.ok) return false;
  const notice = await response.json();
  if (notice.acknowledgedAt) {
    localStorage.setItem(seenKey(userId), notice.version);
    return false;
  }
  showNotice(notice, userId, done);
  return true;
}

/** @param {{ version: string, retention: Record<string, number> }} notice @param {string} userId @param {() => void} done */
function showNotice(notice, userId, done) {
  show(app, html`<section id="privacy-notice"><h2>${noticeText("title")}</h2>
    <p>${noticeText("what")}</p><p>${noticeText("why")}</p>
    <p>${noticeText("howLong", notice.retention)}</p><p class="muted">${noticeText("rights")}</p>
    <button id="agree">${noticeText("agree")}</button></section>`);
  /** @type {HTMLButtonElement} */ (document.getElementById("agree")).onclick = async () => {
    const body = JSON.stringify({ version: notice.version, locale: language() });
    const answer = await api(`${NOTICE_URL}/acknowledgement`, { method: "POST", body }).catch(() => null);
    if (answer?.status === 409) return noticeShown(userId, done); // the text changed meanwhile
    if (answer?.ok) localStorage.setItem(seenKey(userId), notice.version);
    done(); // not recorded (no signal): shown again at the next start
  };
}
