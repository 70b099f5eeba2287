// The vault's key at rest: wrapped (AES-GCM) under a key derived from the person's PIN with
// PBKDF2-HMAC-SHA-256, never stored as it is. Online, the server hands the key to a live
// session and no PIN is asked; with no signal, the PIN unwraps it. Wrong PINs in a row erase
// everything this browser kept (SECURITY.md, finding 7, says what that does and does not stop).
import { dropHanded } from "./inbox.js";
import { bytesOf, current, drop, dropCaches, hold, importKey, readClock, saveClock, seenAt } from "./seal.js";
import { read, remove, wipeVault, write } from "./store.js";
import vocabulary from "./vocabulary.js";

/**
 * @typedef {object} Lock the wrapped key, as IndexedDB keeps it
 * @property {string} userId
 * @property {string} keyId
 * @property {Uint8Array<ArrayBuffer>} salt
 * @property {number} iterations
 * @property {Uint8Array<ArrayBuffer>} wrapped IV, then the raw key sealed under the PIN's key
 * @property {number} failures wrong PINs in a row
 */
/** @typedef {{ key: string, keyId: string, issuedAt: string }} ServerKey the server's answer */

const { iterations: ITERATIONS, tries: TRIES, pinLength } = vocabulary.vault;
const encoder = new TextEncoder();

/** Whether a PIN has the shape the vault takes. @param {string} pin */
export const pinShaped = (pin) => new RegExp(`^\\d{${pinLength.min},${pinLength.max}}$`).test(pin);

/** @param {string} pin @param {Uint8Array<ArrayBuffer>} salt @param {number} iterations */
async function pinKey(pin, salt, iterations) {
  const material = await crypto.subtle.importKey("raw", encoder.encode(pin), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, material,
    { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

/** @param {string} userId */
const lockAad = (userId) => encoder.encode(`${userId}\nlock`);

/** The wrapped key kept for this person, if any. @param {string} userId @returns {Promise<Lock | null>} */
export async function lockOf(userId) {
  /** @type {Lock | undefined} */
  const lock = await read("meta", "lock");
  return lock && lock.userId === userId ? lock : null;
}

/** Hold the server's key in memory (online: no PIN asked) and re-date the vault's clock. @param {ServerKey} answer @param {string} userId */
export async function holdServerKey(answer, userId) {
  const issuedAt = Date.parse(answer.issuedAt);
  const key = await importKey(bytesOf(answer.key));
  hold({ key, userId, keyId: answer.keyId, issuedAt, skew: issuedAt - Date.now() });
  seenAt(Date.now());
  await saveClock();
}

/** Keep the server's key wrapped under ``pin``. @param {ServerKey} answer @param {string} userId @param {string} pin */
export async function setPin(answer, userId, pin) {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const options = { name: "AES-GCM", iv, additionalData: lockAad(userId) };
  const sealed = new Uint8Array(await crypto.subtle.encrypt(options, await pinKey(pin, salt, ITERATIONS), bytesOf(answer.key)));
  const wrapped = new Uint8Array(12 + sealed.length);
  wrapped.set(iv);
  wrapped.set(sealed, 12);
  /** @type {Lock} */
  const lock = { userId, keyId: answer.keyId, salt, iterations: ITERATIONS, wrapped, failures: 0 };
  await write("meta", "lock", lock);
}

/**
 * Open the vault with the PIN (no signal). "open": the key is held; "expired": the PIN was
 * right but the key is older than the vault's limit by the server's time (or the phone's clock
 * went back), so nothing kept is shown; "wrong": tries remain; "wiped": too many wrong PINs,
 * everything this browser kept is erased.
 * @param {string} userId @param {string} pin
 * @returns {Promise<{ outcome: "open" | "expired" | "wrong" | "wiped" | "none", left?: number }>}
 */
export async function unlock(userId, pin) {
  const lock = await lockOf(userId);
  if (!lock) return { outcome: "none" };
  const raw = await unwrap(lock, pin);
  if (!raw) {
    const failures = lock.failures + 1;
    if (failures >= TRIES) {
      await wipeLocal();
      return { outcome: "wiped" };
    }
    await write("meta", "lock", { ...lock, failures });
    return { outcome: "wrong", left: TRIES - failures };
  }
  if (lock.failures) await write("meta", "lock", { ...lock, failures: 0 });
  const key = await importKey(raw);
  raw.fill(0);
  hold({ key, userId, keyId: lock.keyId, issuedAt: 0, skew: 0 });
  const clock = await readClock();
  if (clock) {
    hold({ key, userId, keyId: lock.keyId, issuedAt: clock.issuedAt, skew: clock.skew });
    seenAt(clock.lastSeen);
    if (current(clock.issuedAt)) return { outcome: "open" };
  }
  drop();
  return { outcome: "expired" };
}

/** @param {Lock} lock @param {string} pin */
async function unwrap(lock, pin) {
  try {
    const options = { name: "AES-GCM", iv: lock.wrapped.subarray(0, 12), additionalData: lockAad(lock.userId) };
    const key = await pinKey(pin, lock.salt, lock.iterations);
    return new Uint8Array(await crypto.subtle.decrypt(options, key, lock.wrapped.subarray(12)));
  } catch {
    return null;
  }
}

/** The session was refused: forget the key (memory and PIN-wrapped), the kept data and any
 * share held unsealed in memory (it would be sealed into the next person's inbox). What
 * waits in the outbox stays, sealed, for this person's next sign-in on this device. */
export async function forget() {
  drop();
  dropHanded();
  await remove("meta", "lock").catch(() => {});
  await dropCaches();
}

// Signing out (or too many wrong PINs): everything this browser kept, before anything else
// (the server's Clear-Site-Data comes only with an answer, and a phone with no signal gets none).
export async function wipeLocal() {
  drop();
  dropHanded();
  globalThis.navigator.serviceWorker?.controller?.postMessage({ type: vocabulary.messages.wipe });
  for (const name of await caches.keys()) {
    if (name.startsWith(vocabulary.family)) await caches.delete(name);
  }
  await wipeVault();
}
