// The vault's screens: setting a PIN after signing in (field phones), and entering it to open
// what the phone kept when there is no signal (vault.js holds the rules).
import { html, show } from "./html.js";
import { t, tf } from "./i18n.js";
import { pinShaped, setPin, unlock } from "./vault.js";
import vocabulary from "./vocabulary.js";

const app = /** @type {HTMLElement} */ (document.getElementById("app"));
const { pinLength, tries } = vocabulary.vault;

/** @param {string} name @param {string} label */
const pinInput = (name, label) => html`<input name="${name}" class="pin" type="text" inputmode="numeric"
  autocomplete="off" pattern="[0-9]*" minlength="${pinLength.min}" maxlength="${pinLength.max}" placeholder="${label}" required>`;

/** @param {string} id @param {(form: FormData) => Promise<string | void>} submitted an error to show, if any */
function wire(id, submitted) {
  const form = /** @type {HTMLFormElement} */ (document.getElementById(id));
  form.onsubmit = async (event) => {
    event.preventDefault();
    const button = /** @type {HTMLButtonElement} */ (form.querySelector("button"));
    button.disabled = true; // deriving the PIN's key takes a moment on a phone
    const error = await submitted(new FormData(form));
    button.disabled = false;
    /** @type {HTMLElement} */ (form.querySelector(".err")).textContent = error || "";
    form.reset();
  };
}

/**
 * @param {import("./vault.js").ServerKey} answer the server's key, to wrap under the PIN
 * @param {string} userId @param {() => void} done
 */
export function showPinSetup(answer, userId, done) {
  show(app, html`<form id="pin-set" autocomplete="off"><h2>${t("pinSet")}</h2>
    <p class="muted">${tf("pinWhy", { tries })}</p>
    ${pinInput("pin", tf("pin", pinLength))}${pinInput("again", t("pinAgain"))}
    <button>${t("save")}</button><p class="err muted" aria-live="assertive"></p></form>`);
  wire("pin-set", async (form) => {
    const pin = String(form.get("pin"));
    if (!pinShaped(pin)) return tf("pin", pinLength);
    if (pin !== form.get("again")) return t("pinMismatch");
    await setPin(answer, userId, pin);
    done();
  });
}

/**
 * @param {string} userId @param {() => void} opened the vault is open
 * @param {() => void} wiped too many wrong PINs: everything kept is gone
 */
export function showUnlock(userId, opened, wiped) {
  show(app, html`<form id="pin-unlock" autocomplete="off"><h2>${t("pinUnlock")}</h2>
    ${pinInput("pin", tf("pin", pinLength))}
    <button>${t("pinUnlock")}</button><p class="err muted" aria-live="assertive"></p></form>`);
  wire("pin-unlock", async (form) => {
    const { outcome, left } = await unlock(userId, String(form.get("pin")));
    if (outcome === "open") return opened();
    if (outcome === "wrong") return tf("pinWrong", { left });
    if (outcome === "wiped") {
      wiped();
      return t("pinWiped");
    }
    return t("vaultExpired"); // expired, or no PIN was ever set here
  });
}
