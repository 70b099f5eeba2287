// The words the app shows, in the person's language: the server's translations, rendered
// into vocabulary.js (server/pwa/translations.py). A key no set has shows as itself.
import vocabulary from "./vocabulary.js";

/** @type {string} */
let lang = (navigator.language || "th").startsWith("th") ? "th" : "en";

/** @param {string} locale */
export function speak(locale) {
  if (locale in vocabulary.text) lang = locale;
}

/** @param {string} key */
export const t = (key) => vocabulary.text[lang][key] || key;

/** @param {string} status */
export const statusText = (status) => vocabulary.statusText[lang][status] || status;
