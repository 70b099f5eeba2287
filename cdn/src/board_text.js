// How the dispatch board says things: times in Bangkok, a day in words, the names of a crew,
// and the server's codes (alert kinds, priorities) in the person's words.
import { today } from "./board_data.js";
import { dateText, t, timeText } from "./i18n.js";

/** HH:MM of a time the server wrote in Bangkok's offset. @param {string} iso */
export const clock = (iso) => iso.slice(11, 16);

/** A moment as its time in Bangkok, with its date when that is not today. @param {string} iso */
export function when(iso) {
  const day = new Date(Date.parse(iso) + 7 * 3600e3).toISOString().slice(0, 10);
  return day === today() ? timeText(iso) : `${dateText(iso)} ${timeText(iso)}`;
}

/** A day (YYYY-MM-DD) as people read it, with its weekday: "Saturday 5 Dec 2026". @param {string} day */
export function dayInWords(day) {
  const noon = new Date(`${day}T12:00:00+07:00`);
  const weekday = new Intl.DateTimeFormat(document.documentElement.lang, { weekday: "long", timeZone: "UTC" });
  return `${weekday.format(noon)} ${dateText(noon)}`;
}

/**
 * A code of the server's (``late_start``) in words: ``<words>.<code>`` in the person's
 * language (``board.alert.late_start``), else the code itself, readable.
 * @param {string} words @param {string} code
 */
export function codeText(words, code) {
  const key = `${words}.${code}`;
  const text = t(key);
  return text === key ? code.replaceAll("_", " ") : text;
}

/** A sentence of the translations with its ``{n}`` filled in. @param {string} key @param {unknown} n */
export const counted = (key, n) => t(key).replace("{n}", String(n));

/**
 * The names of a crew, lead first.
 * @param {Map<string, import("./board_data.js").Person>} staff @param {string[]} ids
 */
export const namesOf = (staff, ids) => ids.map((id) => staff.get(id)?.name ?? "…");
