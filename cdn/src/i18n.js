// The words the app shows, in the person's language: the server's translations, written by
// the build into translations.js (server/pwa/translations.py). A key no set has shows as itself.
// The language is the person's locale until they switch it on this device, which remembers
// the choice (there is no endpoint to change a person's locale). Dates and times are
// Bangkok's, the year Buddhist-era in Thai.
import { user } from "./session.js";
import translations from "./translations.js";
import vocabulary from "./vocabulary.js";

/** @typedef {Record<string, Record<string, string>>} Words */
const words = /** @type {typeof translations & { reasons: Words }} */ (translations);
const CHOSEN = `${vocabulary.storage.user}.locale`; // this device's choice, over the person's
const ZONE = "Asia/Bangkok";
/** @type {Record<string, string>} */
const CALENDARS = { th: "th-TH-u-ca-buddhist", en: "en-GB" };

/** @param {string | null | undefined} locale */
const known = (locale) => (locale && locale in words.screens ? locale : null);
/** @type {string} */
let lang = known(localStorage.getItem(CHOSEN)) || known(user()?.locale) ||
  ((navigator.language || "th").startsWith("th") ? "th" : "en");
document.documentElement.lang = lang;

/** The person's locale (at sign-in): spoken unless this device chose a language. @param {string} locale */
export function speak(locale) {
  if (!localStorage.getItem(CHOSEN) && known(locale)) lang = locale;
  document.documentElement.lang = lang;
}

/** Switch to the other language and remember it on this device. */
export function switchLanguage() {
  lang = Object.keys(words.screens).find((locale) => locale !== lang) || lang;
  localStorage.setItem(CHOSEN, lang);
  document.documentElement.lang = lang;
}

/** @param {string} key */
export const t = (key) => words.screens[lang][key] || key;

/** A text with its {name}s filled in. @param {string} text @param {Record<string, unknown>} values */
const filled = (text, values) => text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
/** @param {string} key @param {Record<string, unknown>} values */
export const tf = (key, values) => filled(t(key), values);
/** The privacy notice's words. @param {string} key @param {Record<string, unknown>} [values] */
export const noticeText = (key, values = {}) => filled(words.notice[lang][key] || key, values);
/** The language the screens are in now. */
export const language = () => lang;

/** @param {string} status */
export const statusText = (status) => words.statuses[lang][status] || status;

/** The reasons a problem can be reported for, in the order to offer them (the server's). */
export const reasons = () => vocabulary.reasons;
/** @param {string} reason */
export const reasonText = (reason) => words.reasons[lang][reason] || reason;

/** @param {Intl.DateTimeFormatOptions} options */
const format = (options) => new Intl.DateTimeFormat(CALENDARS[lang] || lang, { timeZone: ZONE, ...options });
/** A day as people read it: "5 ธ.ค. 2569", "5 Dec 2026". @param {string | number | Date} at */
export const dateText = (at) => format({ day: "numeric", month: "short", year: "numeric" }).format(new Date(at));
/** @param {string | number | Date} at */
export const timeText = (at) => format({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(at));
