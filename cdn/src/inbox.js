// The share inbox: photos shared from another app wait in Cache Storage until the person picks
// their job, sealed as the vault seals everything (seal.js): each photo and what it is (its
// name and type) in one seal, bound to the person and to the record ("share" and its id).
// No key, no inbox: a share the worker cannot seal is never stored. The worker keeps it in
// its memory and hands it to the page it opens, which keeps it in its own memory until the
// PIN is entered (docs/pwa.md, "The share target").
import { seal, unseal } from "./seal.js";
import vocabulary from "./vocabulary.js";

/** Where the browser posts a share (the manifest's ``share_target``), and where a page takes
 * back what the worker could not seal. */
export const SHARE_PATH = "/share-target";
const INBOX = vocabulary.caches.shareInbox;
const KIND = "share";
const SEALED = "application/octet-stream";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** @param {string} id */
const entryOf = (id) => `/shared/${id}`;

/** Seal ``files`` into the inbox, all or none: false when there is no key. @param {File[]} files */
export async function keepShared(files) {
  const sealed = [];
  for (const file of files) {
    const id = crypto.randomUUID();
    const head = encoder.encode(JSON.stringify({ name: file.name, type: file.type }) + "\n");
    const bytes = new Uint8Array(head.length + file.size);
    bytes.set(head);
    bytes.set(new Uint8Array(await file.arrayBuffer()), head.length);
    const box = await seal(bytes, KIND, id);
    if (!box) return false;
    sealed.push({ id, box });
  }
  const inbox = await caches.open(INBOX);
  for (const { id, box } of sealed) {
    await inbox.put(entryOf(id), new Response(box, { headers: { "Content-Type": SEALED } }));
  }
  return true;
}

/**
 * The photos waiting in the inbox that this person's key opens; any other entry (another
 * person's, tampered with, or kept in the clear by an older build) is deleted.
 * @returns {Promise<{ entry: Request, photo: File }[]>}
 */
export async function sharedPhotos() {
  const inbox = await caches.open(INBOX);
  const opened = [];
  for (const entry of await inbox.keys()) {
    const photo = await opening(entry, await inbox.match(entry));
    if (photo) opened.push({ entry, photo });
    else await inbox.delete(entry);
  }
  return opened;
}

/** @param {Request} entry @param {Response | undefined} kept */
async function opening(entry, kept) {
  const id = new URL(entry.url).pathname.split("/")[2] || "";
  const plain = kept && (await unseal(await kept.arrayBuffer(), KIND, id));
  const end = plain ? plain.indexOf(10) : -1; // the JSON head never holds a raw newline
  if (!plain || end < 0) return null;
  const { name, type } = JSON.parse(decoder.decode(plain.subarray(0, end)));
  return new File([plain.subarray(end + 1)], name, { type });
}

/**
 * Delete every entry that is not sealed as this build seals (``/shared/<id>``, sealed bytes):
 * an older build kept shares in the clear (``/shared/<id>/<name>``, the photo as it was), and
 * they must not wait on disk for the person to open the #shared view (the worker's activate).
 */
export async function dropUnsealed() {
  const inbox = await caches.open(INBOX);
  for (const entry of await inbox.keys()) {
    const sealed = /^\/shared\/[^/]+$/.test(new URL(entry.url).pathname)
      && (await inbox.match(entry))?.headers.get("Content-Type") === SEALED;
    if (!sealed) await inbox.delete(entry);
  }
}

/** @param {Request} entry */
export const dropShared = async (entry) => (await caches.open(INBOX)).delete(entry);

// What this context holds unsealed, in memory only. In the worker: a share it could not seal
// (no key), until the page it opens takes it, lost if the worker is stopped first. In the page:
// what it took from the worker (which forgets it then), sealed into the inbox once the page
// holds the key. Forgotten with the key (vault.js: a refused session, a wipe): never sealed
// into the next person's inbox.
/** @type {File[]} */
let handed = [];
/** @type {Promise<void>} */
let taking = Promise.resolve();
const TAKE_MS = 2000; // an older worker sends the ask to the network: the PIN must not wait on it

/** The worker: hold ``files`` too, false (and nothing held) past the share limits. @param {File[]} files */
export function holdHanded(files) {
  const waiting = [...handed, ...files];
  const bytes = waiting.reduce((total, file) => total + file.size, 0);
  if (waiting.length > vocabulary.share.files || bytes > vocabulary.share.bytes) return false;
  handed = waiting;
  return true;
}

/** The worker: what it holds, for the page that asks (then forgotten here). */
export function handOver() {
  const form = new FormData();
  handed.forEach((file) => form.append("file", file));
  handed = [];
  return new Response(form, { headers: { "Cache-Control": "no-store" } });
}

/** The page: take what the worker holds (nothing when no worker controls the page, or when the
 * ask is not answered within TAKE_MS: a stalled network). Once answered, its body is read to
 * the end however long it takes: the worker has forgotten the share by then. */
export function takeHanded() {
  if (!globalThis.navigator?.serviceWorker?.controller) return taking;
  const asked = new AbortController();
  const timer = setTimeout(() => asked.abort(), TAKE_MS);
  taking = fetch(SHARE_PATH, { cache: "no-store", signal: asked.signal })
    .then((answer) => {
      clearTimeout(timer);
      return answer.ok ? answer.formData() : null;
    })
    .then((form) => { handed.push(.../** @type {File[]} */ (form?.getAll("file") || [])); })
    .catch(() => {});
  return taking;
}

/** The page: seal what it was handed into the inbox (the key is held by now). */
export async function keepHanded() {
  await taking;
  if (handed.length && (await keepShared(handed))) handed = [];
}

export function dropHanded() {
  handed = [];
}
