// The words the app shows, in the person's language: the server's translations, written by
// the build into translations.js (server/pwa/translations.py). A key no set has shows as itself.
import translations from "./translations.js";

/** @type {string} */
let lang = (navigator.language || "th").startsWith("th") ? "th" : "en";

/** @param {string} locale */
export function speak(locale) {
  if (locale in translations.screens) lang = locale;
}

/** @param {string} key */
export const t = (key) => translations.screens[lang][key] || key;

/** @param {string} status */
export const statusText = (status) => translations.statuses[lang][status] || status;
