// The outbox: each change waits under its mutationId, sealed (and bound to its person), in the
// order it was made, until the server answers for it; the server's answers wait as notices
// until a page shows them. No key, no queue: a change is never kept in the clear, and one
// sealed for another person (or kept in the clear by an older build) is never sent.
import { authorised, locked, retryable, stillWaiting, waitAsked } from "./api.js";
import { Locked, seal, unseal } from "./seal.js";
import { deviceId, withStores } from "./store.js";
import vocabulary from "./vocabulary.js";

/** @typedef {"sent" | "empty" | "signed-out" | number} Outcome a send's answer; a number is a delay in ms to retry after */

const SYNC_URL = "/api/mobile/sync";
const BATCH = 200; // mutations per sync request (the server takes up to 1,000)
const LONG_WAIT_MS = 300e3;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

let counter = 0;
let enqueued = 0;

/** How many changes this page (or worker) has queued: a view being drawn can tell it missed one. */
export const queued = () => enqueued;

/** @param {Record<string, any> & { mutationId: string }} entry */
export async function enqueue(entry) {
  const seq = Date.now() * 1000 + (counter++ % 1000);
  const sealed = await seal(encoder.encode(JSON.stringify(entry)), "outbox", entry.mutationId);
  if (!sealed) throw new Locked("no key: sign in, or enter the PIN");
  await withStores("outbox", "readwrite", (s) => s.put({ mutationId: entry.mutationId, seq, sealed }));
  enqueued += 1;
}

/** The waiting changes, oldest first; one this person cannot open shows as ``sealedAway``. */
export async function waiting() {
  /** @type {any[]} */
  const records = await withStores("outbox", "readonly", (s) => s.getAll());
  records.sort((a, b) => (a.seq || 0) - (b.seq || 0));
  /** @type {any[]} */
  const entries = [];
  for (const record of records) {
    const plain = record.sealed && (await unseal(record.sealed, "outbox", record.mutationId));
    entries.push(plain ? JSON.parse(decoder.decode(plain)) : { mutationId: record.mutationId, sealedAway: true });
  }
  return entries;
}

// Sends the waiting changes, oldest first, in batches. Nothing leaves the outbox until the
// server has answered for it; a batch the server cannot take is kept, shown, and tried again
// much later.
/** @returns {Promise<Outcome>} */
export const send = () => locked(vocabulary.locks.outbox, sendNow);

/** @returns {Promise<Outcome>} */
async function sendNow() {
  const asked = await stillWaiting();
  if (asked) return asked;
  // A problem reported with a photo waits for the photo's upload to begin: the server
  // knows a photo from its upload URL on.
  const uploading = new Set((await withStores("photos", "readonly", (s) => s.getAllKeys())) || []);
  const entries = (await waiting())
    .filter((e) => !e.sealedAway && !(e.kind === "issue" && uploading.has(e.photoId))).slice(0, BATCH);
  if (!entries.length) return "empty";
  /** @param {string} list */
  const of = (list) => entries.filter((e) => e.kind === list).map(({ kind, at, ...sent }) => sent);
  const body = {
    deviceId: await deviceId(), deviceTime: new Date().toISOString(),
    pendingUpdates: of("update"), checkIns: of("checkIn"), photos: of("photo"), issues: of("issue"),
    remarks: of("remark"),
  };
  let answer;
  try {
    const response = await authorised(SYNC_URL, { method: "POST", body: JSON.stringify(body), redirect: "error" });
    if (response.status === 401) return "signed-out"; // they wait for the next sign-in
    if (retryable(response.status)) return waitAsked(response);
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      await notice({ mutationId: `batch-${response.status}`, reason: problem.detail || String(response.status) });
      return LONG_WAIT_MS;
    }
    answer = await response.json();
  } catch {
    return 0; // no network, or not our server answering (a captive portal)
  }
  /** @type {any[]} */
  const notices = [
    ...answer.synced.map((/** @type {string} */ mutationId) => ({ mutationId, ok: true })),
    ...[...answer.conflicts, ...answer.failed].map((p) => ({
      mutationId: p.mutationId, jobId: p.jobId, reason: p.reason || p.message || p.code })),
  ];
  await withStores(["outbox", "notices"], "readwrite", (outbox, kept) => {
    entries.forEach((e) => outbox.delete(e.mutationId));
    notices.forEach((n) => kept.put(n));
  });
  return "sent";
}

/** @param {{ mutationId: string, reason: string }} entry */
export const notice = (entry) => withStores("notices", "readwrite", (s) => s.put(entry));

// The server's answer for each change, until a page has shown it (the worker may have sent
// while no page was open). Read and removed in one go: none is lost or shown twice.
/** @returns {Promise<{ mutationId: string, ok?: boolean, reason?: string }[]>} */
export function takeNotices() {
  /** @type {any[]} */
  let taken = [];
  return withStores("notices", "readwrite", (s) => {
    const all = s.getAll();
    all.onsuccess = () => {
      taken = all.result;
      taken.forEach((n) => s.delete(n.mutationId));
    };
  }).then(() => taken);
}
