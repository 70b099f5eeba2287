// Who is signed in on this page (kept across starts in localStorage: a name, a role, a
// locale; nothing secret), and which family of screens their role gets (the server's rule).
import vocabulary from "./vocabulary.js";

/** @typedef {{ id: string, role: string, locale: string, name?: string }} User */

const KEY = vocabulary.storage.user;
/** @type {User | null} */
let current = JSON.parse(localStorage.getItem(KEY) || "null");

export const user = () => current;

/** @param {User} person */
export function remember(person) {
  current = person;
  localStorage.setItem(KEY, JSON.stringify(person));
}

export function forgetUser() {
  current = null;
  localStorage.removeItem(KEY);
}

/** The dispatch board rather than the day's jobs. */
export const office = () => Boolean(current && vocabulary.families[current.role] === "office");
