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
    await inbox.put(entryOf(id), new Response(box, { headers: { "Content-Type": "application/octet-stream" } }));
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

/** @param {Request} entry */
export const dropShared = async (entry) => (await caches.open(INBOX)).delete(entry);

// The page's side of a share the worker could not seal: taken from the worker as the page
// loads (the worker forgets it then, and may be stopped at any time), sealed into the inbox
// once the page holds the key, forgotten when the vault is wiped.
/** @type {File[]} */
let handed = [];
/** @type {Promise<void>} */
let taking = Promise.resolve();

/** Take what the worker holds in memory for the page (nothing when no worker controls it). */
export function takeHanded() {
  if (!globalThis.navigator?.serviceWorker?.controller) return taking;
  taking = fetch(SHARE_PATH, { cache: "no-store" })
    .then((answer) => (answer.ok ? answer.formData() : null))
    .then((form) => { handed.push(.../** @type {File[]} */ (form?.getAll("file") || [])); }, () => {});
  return taking;
}

/** Seal what the page was handed into the inbox (the key is held by now). */
export async function keepHanded() {
  await taking;
  if (handed.length && (await keepShared(handed))) handed = [];
}

export function dropHanded() {
  handed = [];
}
