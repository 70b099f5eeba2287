// What the app keeps offline (the outbox, the photo lane, the cached job data) is sealed with
// AES-GCM under this device's key from the server. The key is kept as a non-extractable
// CryptoKey, so script can use it but never read it out; it is forgotten when the session is
// refused, and the server will not hand it to a revoked device again.
import { read, withStores, write } from "./store.js";
import vocabulary from "./vocabulary.js";

const MAX_AGE_MS = 48 * 3600e3; // cached job data older than this is never shown offline
const encoder = new TextEncoder();

/** @returns {Promise<CryptoKey | null | undefined>} */
export const key = () => read("meta", "key");

/** @param {string} base64url */
export const bytesOf = (base64url) =>
  Uint8Array.from(atob(base64url.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

/** Keep the key the server gave (base64url), unreadable by script. @param {string} raw */
export async function keepKey(raw) {
  const cryptoKey = await crypto.subtle.importKey("raw", bytesOf(raw), "AES-GCM", false, ["encrypt", "decrypt"]);
  await write("meta", "key", cryptoKey);
  return cryptoKey;
}

// Sealed bytes are a fresh 12-byte IV, then the ciphertext; ``context`` (what the bytes
// are: a URL and time, a mutationId) is bound in as additional data, so sealed records
// cannot be swapped or re-dated.
/** @param {Uint8Array<ArrayBuffer>} bytes @param {string} context */
export async function seal(bytes, context) {
  const k = await key();
  if (!k) return null;
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const options = { name: "AES-GCM", iv, additionalData: encoder.encode(context) };
  const sealed = new Uint8Array(await crypto.subtle.encrypt(options, k, bytes));
  const out = new Uint8Array(12 + sealed.length);
  out.set(iv);
  out.set(sealed, 12);
  return out;
}

/** @param {ArrayBuffer | Uint8Array<ArrayBuffer>} bytes @param {string} context */
export async function unseal(bytes, context) {
  const k = await key();
  if (!k) return null;
  try {
    const data = new Uint8Array(bytes);
    const options = { name: "AES-GCM", iv: data.subarray(0, 12), additionalData: encoder.encode(context) };
    return new Uint8Array(await crypto.subtle.decrypt(options, k, data.subarray(12)));
  } catch {
    return null; // sealed under another key (or tampered with): unreadable, as it should be
  }
}

// Cached API answers: sealed bytes in Cache Storage, with when they were fetched.
/** @param {Response} response @param {string} url */
export async function sealResponse(response, url) {
  const at = String(Date.now());
  const sealed = await seal(new Uint8Array(await response.arrayBuffer()), `${url}\n${at}`);
  if (!sealed) return null; // no key: keep nothing rather than keep it in the clear
  return new Response(sealed, { headers: {
    "Content-Type": "application/octet-stream",
    "X-Sealed-Type": response.headers.get("Content-Type") || "application/json",
    "X-Sealed-At": at } });
}

/** Whether a kept answer is recent enough to be shown offline. @param {Response | undefined} cached */
export const current = (cached) => Boolean(cached && cached.headers.has("X-Sealed-At") &&
  Date.now() - Number(cached.headers.get("X-Sealed-At")) <= MAX_AGE_MS);

/** @param {Response | undefined} cached @param {string} url */
export async function unsealResponse(cached, url) {
  if (!cached || !current(cached)) return null;
  const at = cached.headers.get("X-Sealed-At");
  const plain = await unseal(await cached.arrayBuffer(), `${url}\n${at}`);
  if (!plain) return null;
  return new Response(plain, { headers: { "Content-Type": cached.headers.get("X-Sealed-Type") || "" } });
}

// The session was refused: forget the key, the cached data and shared photos not yet
// placed. Waiting changes stay, sealed, until this person signs in on this device again
// and gets the same key back.
export async function forget() {
  await withStores("meta", "readwrite", (s) => s.delete("key"));
  const { data, shareInbox } = vocabulary.caches;
  for (const name of await caches.keys()) {
    if (name === data || name === shareInbox) await caches.delete(name);
  }
}
