// Tinedy Field: the app shell's entry. Native ES modules, hashed by the build (cdn/build.py);
// the words it shares with the server come from vocabulary.js, which the build writes from the
// server's own (server/pwa/vocabulary.py).
import { fetchKey } from "./api.js";
import { switchLanguage, t } from "./i18n.js";
import { dropHanded, takeHanded } from "./inbox.js";
import { showJob, showProblemForm } from "./job.js";
import { closeLive, listen } from "./live.js";
import { showPinSetup, showUnlock } from "./lock.js";
import { noticeShown } from "./notice.js";
import { actions, api, endSession, flushNow, refresh, registerWorker, shareKey, showWaiting } from "./page.js";
import { onSetPasswordPage, showChangePassword, showForgot, showSetPassword } from "./passwords.js";
import { dropPush, subscribe } from "./push.js";
import { Locked, drop, holding } from "./seal.js";
import { forgetUser, office, user } from "./session.js";
import { lockOf, wipeLocal } from "./vault.js";
import vocabulary from "./vocabulary.js";
import { keepAgain, leaving, showJobs, showShared, showSignIn, shownList } from "./views.js";

// The server refused the session (revoked, expired for good): this browser stops taking
// pushes for the person too.
function refused() {
  if (user()) dropPush(false);
  signedOut();
}

function signedOut() {
  opened = false;
  closeLive();
  drop();
  dropHanded(); // a share taken from the worker is not sealed into the next person's inbox
  forgetUser();
  showSignIn(start);
}

// Thai or English, on every screen; the choice is this device's.
const language = /** @type {HTMLButtonElement} */ (document.getElementById("lang"));
language.onclick = () => {
  switchLanguage();
  route();
};

/** @type {Promise<typeof import("./board.js")> | undefined} */
let boardLoaded;
/** The dispatch board's script, fetched the first time a dispatcher or admin needs it (the
 * page's HTML names it): field phones never download it. */
function board() {
  boardLoaded ||= new Promise((resolve, reject) => {
    const { office, officeIntegrity } = document.documentElement.dataset;
    const script = document.createElement("script");
    script.src = office || "";
    script.integrity = officeIntegrity || "";
    script.onload = () => resolve(/** @type {any} */ (globalThis)[vocabulary.modules]["board.js"]);
    script.onerror = () => { boardLoaded = undefined; reject(new Error("the board did not load")); };
    document.head.append(script);
  });
  return boardLoaded;
}

function route() {
  leaving();
  language.textContent = t("otherLanguage"); // the person's own at sign-in
  language.hidden = false;
  if (onSetPasswordPage()) return showSetPassword();
  const person = user();
  const [view, id] = location.hash.slice(1).split("/");
  if (!person) return view === "forgot" ? showForgot() : showSignIn(start);
  if (!opened) return; // the start's own screens (the PIN, the notice) come first
  if (view === "password") return showChangePassword();
  if (view === "job" && id) return showJob(id);
  if (view === "problem" && id) return showProblemForm(id);
  if (view === "sync") return flushNow().then(() => { location.hash = ""; });
  if (view === "shared") return showShared();
  if (office()) return board().then(({ showBoard }) => showBoard(person, signedOut));
  return showJobs(person, signedOut);
}

const KEY_WAIT_MS = 6000; // a start on a crawling network opens with the PIN rather than wait
/** @param {number} ms @returns {Promise<undefined>} */
const later = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A start: with signal, the server hands this session its key (and a field phone with no PIN
// yet sets one); with none, the PIN opens what the phone kept. Then the privacy notice, once.
let opened = false; // the vault is open and the notice read: the app's screens may be drawn

async function start() {
  const person = user();
  opened = false;
  if (!person || onSetPasswordPage()) return route();
  endSession();
  let answer;
  if (!holding()) {
    answer = await Promise.race([fetchKey().catch(() => undefined), later(KEY_WAIT_MS)]);
    if (answer === null) return refused();
    if (!answer) return locked(person.id);
  }
  if (!office() && (await lockOf(person.id))?.keyId !== holding()?.keyId) {
    answer ||= await fetchKey().catch(() => undefined); // the raw key, to wrap under the PIN
    if (answer) return showPinSetup(answer, person.id, start);
  }
  shareKey();
  if (!office() && (await noticeShown(person.id, start))) return;
  opened = true;
  route();
  flushNow();
  listen({
    heard: refresh,
    signedIn: () => Boolean(user()),
    check: () => api("/api/mobile/auth/offline-key").then((r) => r.ok, () => false),
  });
  subscribe(user()?.id);
}

// No signal: the PIN opens the vault; until then the worker holds no key either (a tab
// reloaded must not find the worker still opening what the phone kept). A share it could not
// seal is this page's first: the worker forgets it with its key.
/** @param {string} userId */
async function locked(userId) {
  await handing;
  navigator.serviceWorker?.controller?.postMessage({ type: vocabulary.messages.wipe });
  showUnlock(userId, start, wiped);
}

async function wiped() {
  await wipeLocal();
  forgetUser();
}

// No key, no queue: a change tried while the vault is locked is refused, and the person told.
window.addEventListener("unhandledrejection", (event) => {
  if (!(event.reason instanceof Locked)) return;
  event.preventDefault();
  alert(t("locked"));
  start();
});

actions.route = route;
actions.refused = refused;
window.addEventListener("hashchange", route);
navigator.serviceWorker?.addEventListener("message", ({ data }) => {
  const { sent, pushed, refreshed, open } = vocabulary.messages;
  if (data?.type === sent) showWaiting().then(refresh); // the worker sent
  if (data?.type === pushed && user()) route(); // the worker has just fetched the news
  if (data?.type === refreshed && data.url === shownList()) route(); // drawn from a kept copy
  if (data?.type === open) location.hash = new URL(data.url).hash; // a notification tapped
});
// The first worker takes control only after the first sign-in has drawn the list, which so
// went past it: fetch the day again through it, so the next start (with or without signal)
// finds it kept.
navigator.serviceWorker?.addEventListener("controllerchange", () => {
  shareKey();
  keepAgain();
  if (user()) route();
});
window.addEventListener("online", flushNow);
window.addEventListener("offline", showWaiting);
const handing = takeHanded(); // a share the worker held, kept here until the key is
registerWorker();
start();
