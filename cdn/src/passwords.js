// The password screens, for people whose accounts come from the office's CRM: setting one from
// the invite or reset link the office sends (/set-password#token=…, the token in the fragment
// so it never reaches a server's log), asking the office for such a link when it is forgotten,
// and changing it when signed in. The server's rules (length, a spent link) are its own; the
// checks here only spare a round trip, and its field messages are shown by their fields.
import { problemCode } from "./api.js";
import { html, show } from "./html.js";
import { t } from "./i18n.js";
import { api } from "./page.js";
import vocabulary from "./vocabulary.js";

/** @typedef {{ field: string, message: string }} FieldError */

const app = /** @type {HTMLElement} */ (document.getElementById("app"));
const { min: SHORTEST, max: LONGEST } = vocabulary.passwordLength;
const JSON_HEADERS = { "X-Requested-With": "fetch", "Content-Type": "application/json" };

/** This page is the one an invite or reset link opens. */
export const onSetPasswordPage = () => location.pathname === vocabulary.pages.setPassword;

/** The link's token, taken once from the address (then removed from it, and from history). */
const linkToken = (() => {
  if (!onSetPasswordPage()) return null;
  const token = new URLSearchParams(location.hash.slice(1)).get("token")
    || new URLSearchParams(location.search).get("token");
  if (token) history.replaceState(null, "", location.pathname);
  return token;
})();
let setPasswordDrawn = false;

/**
 * A labelled password input with its hint and its error, both read out with it.
 * @param {string} name @param {string} label @param {"new-password" | "current-password"} autocomplete
 * @param {string} [hint]
 */
const passwordField = (name, label, autocomplete, hint) => html`<label for="${name}">${label}</label>
  <input id="${name}" name="${name}" type="password" autocomplete="${autocomplete}" required
    ${autocomplete === "new-password" && html`minlength="${SHORTEST}"`} maxlength="${LONGEST}"
    aria-describedby="${hint ? `${name}-hint ` : ""}${name}-error">
  ${hint && html`<small id="${name}-hint" class="muted">${hint}</small>`}
  <small id="${name}-error" class="error"></small>`;

const reveal = html`<label class="check"><input type="checkbox" data-reveal> ${t("showPasswords")}</label>`;
const status = html`<p class="status" role="status"></p>`;
const signInLink = html`<p><a class="button" href="/">${t("signIn")}</a></p>`;

/** @param {HTMLFormElement} form @param {string} text @param {boolean} [ok] */
function say(form, text, ok = false) {
  const line = /** @type {HTMLElement} */ (form.querySelector(".status"));
  line.textContent = text;
  line.classList.toggle("ok", ok);
}

/** Each message by its field; one for a field the form does not have goes to its status line. @param {HTMLFormElement} form @param {FieldError[]} errors */
function showErrors(form, errors) {
  form.querySelectorAll("input[name]").forEach((element) => {
    const input = /** @type {HTMLInputElement} */ (element);
    const mine = errors.filter((e) => e.field === input.name).map((e) => e.message).join(" ");
    const line = form.querySelector(`#${input.name}-error`);
    if (line) line.textContent = mine;
    if (mine) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  });
  const elsewhere = errors.filter((e) => !form.querySelector(`input[name="${e.field}"]`));
  say(form, elsewhere.map((e) => e.message).join(" "));
  /** @type {HTMLElement | null} */ (form.querySelector("[aria-invalid]"))?.focus();
}

/** What a new password and its repeat are missing before the server is asked. @param {Record<string, string>} values @param {string | null} chosen */
function checked(values, chosen) {
  if (chosen === null) return [];
  /** @type {FieldError[]} */
  const errors = [];
  if (values[chosen].length < SHORTEST) errors.push({ field: chosen, message: t("tooShort") });
  else if (values.repeat !== values[chosen]) errors.push({ field: "repeat", message: t("notSame") });
  return errors;
}

/**
 * Send ``form`` with ``send`` once its own checks pass; show what the server refused by field
 * (422), a message when it is busy or down (429, 5xx) or there is no signal; leave every other
 * answer to ``answered``.
 * @param {HTMLFormElement} form
 * @param {string | null} chosen the new password's field, checked with its repeat (if any)
 * @param {(values: Record<string, string>) => Promise<Response>} send
 * @param {(response: Response) => Promise<void> | void} answered
 */
function wireForm(form, chosen, send, answered) {
  form.querySelector("[data-reveal]")?.addEventListener("change", (event) => {
    const shown = /** @type {HTMLInputElement} */ (event.target).checked;
    form.querySelectorAll("input[autocomplete$=password]").forEach((input) => {
      /** @type {HTMLInputElement} */ (input).type = shown ? "text" : "password";
    });
  });
  form.onsubmit = async (event) => {
    event.preventDefault();
    const values = Object.fromEntries([...new FormData(form)].map(([name, value]) => [name, String(value)]));
    const errors = checked(values, chosen);
    showErrors(form, errors);
    if (errors.length) return;
    const button = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
    button.disabled = true;
    try {
      const response = await send(values);
      if (response.status === 422) showErrors(form, (await response.json().catch(() => ({}))).errors || []);
      else if (response.status === 429 || response.status >= 500) say(form, t("tryLater"));
      else await answered(response);
    } catch {
      say(form, t("noSignal")); // fetch failed: no network (the worker lets these through)
    } finally {
      button.disabled = false;
    }
  };
}

/** @param {string} path @param {Record<string, string>} body */
const postOpenly = (path, body) => fetch(path, {
  method: "POST", credentials: "same-origin", cache: "no-store", headers: JSON_HEADERS, body: JSON.stringify(body) });

/** The page an invite or reset link opens, drawn once (a later redraw of the app leaves it). */
export function showSetPassword() {
  if (setPasswordDrawn) return;
  setPasswordDrawn = true;
  if (!linkToken) {
    show(app, html`<h2>${t("setPassword")}</h2><p>${t("linkMissing")}</p>${signInLink}`);
    return;
  }
  show(app, html`<form id="set-password" novalidate><h2>${t("setPassword")}</h2>
    ${passwordField("password", t("newPassword"), "new-password", t("passwordRule"))}
    ${passwordField("repeat", t("repeatPassword"), "new-password")}
    ${reveal}<button type="submit">${t("save")}</button>${status}</form>`);
  const form = /** @type {HTMLFormElement} */ (document.getElementById("set-password"));
  wireForm(form, "password", ({ password }) =>
    postOpenly("/api/mobile/auth/set-password", { token: linkToken, password }), async (response) => {
    if (response.ok) {
      show(app, html`<h2>${t("setPassword")}</h2><p class="ok" role="status">${t("passwordSet")}</p>${signInLink}`);
    } else if (await problemCode(response) === vocabulary.problems.passwordLink) {
      show(app, html`<h2>${t("setPassword")}</h2><p class="error" aria-live="assertive">${t("linkSpent")}</p>${signInLink}`);
    } else {
      say(form, t("tryLater"));
    }
  });
}

/** A forgotten password: the office is asked to send a link; the server says the same whoever asks. */
export function showForgot() {
  show(app, html`<form id="forgot" novalidate><h2>${t("forgot")}</h2><p class="muted">${t("forgotHelp")}</p>
    <label for="email">${t("email")}</label>
    <input id="email" name="email" type="email" inputmode="email" autocomplete="email" required aria-describedby="email-error">
    <small id="email-error" class="error"></small>
    <button type="submit">${t("askLink")}</button>${status}</form><p><a href="#">${t("back")}</a></p>`);
  const form = /** @type {HTMLFormElement} */ (document.getElementById("forgot"));
  wireForm(form, null, ({ email }) => postOpenly("/api/mobile/auth/forgot-password", { email }), () => {
    show(app, html`<h2>${t("forgot")}</h2><p class="ok" role="status">${t("forgotSent")}</p>
      <p><a class="button" href="#">${t("signIn")}</a></p>`);
  });
}

/** Change the signed-in person's password. A wrong current password is the form's answer: the
 * session stays. */
export function showChangePassword() {
  if (document.getElementById("change-password")) return; // a live event's redraw: keep what is typed
  show(app, html`<p><a href="#">${t("back")}</a></p><form id="change-password" novalidate><h2>${t("changePassword")}</h2>
    ${passwordField("currentPassword", t("currentPassword"), "current-password")}
    ${passwordField("newPassword", t("newPassword"), "new-password", t("passwordRule"))}
    ${passwordField("repeat", t("repeatPassword"), "new-password")}
    ${reveal}<button type="submit">${t("save")}</button>${status}</form>`);
  const form = /** @type {HTMLFormElement} */ (document.getElementById("change-password"));
  wireForm(form, "newPassword", ({ currentPassword, newPassword }) => api("/api/mobile/auth/change-password",
    { method: "POST", body: JSON.stringify({ currentPassword, newPassword }) }), async (response) => {
    if (response.ok) {
      form.reset();
      say(form, t("passwordChanged"), true);
    } else if (await problemCode(response) === vocabulary.problems.wrongPassword) {
      showErrors(form, [{ field: "currentPassword", message: t("wrongPassword") }]);
    } else if (response.status !== 401) { // a 401 that is not the answer: api() signed out
      say(form, t("tryLater"));
    }
  });
}
