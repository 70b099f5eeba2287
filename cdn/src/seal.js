// What the app keeps offline (the outbox, the photo lane, the cached job data) is sealed with
// AES-GCM under this device's key from the server, bound to its person: the person's id and
// what the record is are the additional data, so one person's records never open as
// another's. The key lives in memory only, as a non-extractable CryptoKey (the page's, and the
// service worker's own copy); at rest it exists only wrapped under the person's PIN (vault.js).
// How old kept data may be is measured from the server's time: when it issued the key.
import { withStores } from "./store.js";
import vocabulary from "./vocabulary.js";

/**
 * @typedef {object} Held the key in memory, with what the server said when it issued it
 * @property {CryptoKey} key
 * @property {string} userId
 * @property {string} keyId
 * @property {number} issuedAt the server's time (ms) when it issued the key
 * @property {number} skew the server's clock minus this phone's at that moment (ms)
 */

const MAX_AGE_MS = vocabulary.vault.maxAgeHours * 3600e3;
const CLOCK_SLACK_MS = 120e3; // a phone clock moved back further than this has been tampered with
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** @type {Held | null} */
let held = null;
let lastSeen = 0; // the latest phone time seen with this key: a clock set back before it is refused
let lastSaved = 0;

/** No key in memory: nothing can be sealed or opened (sign in, or enter the PIN). */
export class Locked extends Error {}

/** The key in memory, if any. */
export const holding = () => held;

/** @param {Held} next */
export function hold(next) {
  held = next;
}

export function drop() {
  held = null;
  lastSeen = 0;
}

/** @param {string} base64url */
export const bytesOf = (base64url) =>
  Uint8Array.from(atob(base64url.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

/** Script can use it, never read it out. @param {Uint8Array<ArrayBuffer>} raw */
export const importKey = (raw) => crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);

/** @param {string} kind @param {string} context */
const aad = (kind, context) => encoder.encode(`${held?.userId}\n${kind}\n${context}`);

// Sealed bytes are a fresh 12-byte IV, then the ciphertext.
/** @param {Uint8Array<ArrayBuffer>} bytes @param {string} kind @param {string} context */
export async function seal(bytes, kind, context) {
  if (!held) return null;
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const options = { name: "AES-GCM", iv, additionalData: aad(kind, context) };
  const sealed = new Uint8Array(await crypto.subtle.encrypt(options, held.key, bytes));
  const out = new Uint8Array(12 + sealed.length);
  out.set(iv);
  out.set(sealed, 12);
  return out;
}

/** @param {ArrayBuffer | Uint8Array<ArrayBuffer>} bytes @param {string} kind @param {string} context */
export async function unseal(bytes, kind, context) {
  if (!held) return null;
  try {
    const data = new Uint8Array(bytes);
    const options = { name: "AES-GCM", iv: data.subarray(0, 12), additionalData: aad(kind, context) };
    return new Uint8Array(await crypto.subtle.decrypt(options, held.key, data.subarray(12)));
  } catch {
    return null; // another person's, under another key, or tampered with: unreadable, as it should be
  }
}

/** @param {unknown} value @param {string} kind */
export const sealJson = (value, kind) => seal(encoder.encode(JSON.stringify(value)), kind, "");
/** @param {Uint8Array<ArrayBuffer> | undefined} bytes @param {string} kind */
export async function unsealJson(bytes, kind) {
  const plain = bytes && (await unseal(bytes, kind, ""));
  return plain ? JSON.parse(decoder.decode(plain)) : null;
}

// The key's clock (when the server issued it, the latest phone time seen), kept sealed under
// the key itself: a thief can neither read nor re-date it.
export async function saveClock() {
  if (!held) return;
  lastSaved = Date.now();
  const { issuedAt, skew, keyId } = held;
  const sealed = await sealJson({ issuedAt, skew, keyId, lastSeen }, "clock");
  if (held?.keyId === keyId) await withStores("meta", "readwrite", (s) => s.put(sealed, "clock")); // not wiped meanwhile
}

/** The clock kept with the vault, for a key just unwrapped. @returns {Promise<{ issuedAt: number, skew: number, keyId: string, lastSeen: number } | null>} */
export const readClock = async () => unsealJson(await withStores("meta", "readonly", (s) => s.get("clock")), "clock");

/** Continue from the latest phone time kept with the vault. @param {number} seen */
export function seenAt(seen) {
  lastSeen = Math.max(lastSeen, seen);
}

/** The server's time as this phone best knows it, or null when the phone's clock went back. */
export function serverNow() {
  if (!held || Date.now() < lastSeen - CLOCK_SLACK_MS) return null;
  lastSeen = Math.max(lastSeen, Date.now());
  if (Date.now() - lastSaved > 60e3) saveClock().catch(() => {});
  return Date.now() + held.skew;
}

/** Whether data sealed at ``sealedAt`` (server time) may still be shown. @param {number} sealedAt */
export function current(sealedAt) {
  const now = serverNow();
  if (now === null || !held) return false;
  return now - held.issuedAt <= MAX_AGE_MS && now - sealedAt <= MAX_AGE_MS;
}

// Cached API answers: sealed bytes in Cache Storage, with when (server time) they were kept.
/** @param {Response} response @param {string} url */
export async function sealResponse(response, url) {
  const now = serverNow();
  if (now === null) return null;
  const at = String(now);
  const sealed = await seal(new Uint8Array(await response.arrayBuffer()), "data", `${url}\n${at}`);
  if (!sealed) return null; // no key: keep nothing rather than keep it in the clear
  return new Response(sealed, { headers: {
    "Content-Type": "application/octet-stream",
    "X-Sealed-Type": response.headers.get("Content-Type") || "application/json",
    "X-Sealed-At": at } });
}

/** A kept answer's time, if it is a sealed one. @param {Response | undefined} cached */
export const sealedAt = (cached) => Number(cached?.headers.get("X-Sealed-At")) || 0;

/** @param {Response | undefined} cached @param {string} url */
export async function unsealResponse(cached, url) {
  const at = sealedAt(cached);
  if (!cached || !at || !current(at)) return null;
  const plain = await unseal(await cached.arrayBuffer(), "data", `${url}\n${at}`);
  if (!plain) return null;
  return new Response(plain, { headers: { "Content-Type": cached.headers.get("X-Sealed-Type") || "" } });
}

/** Forget the cached data and shared photos not yet placed (the session was refused). */
export async function dropCaches() {
  const { data, shareInbox } = vocabulary.caches;
  for (const name of await caches.keys()) {
    if (name === data || name === shareInbox) await caches.delete(name);
  }
}
