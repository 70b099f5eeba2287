// The photo lane: a photo waits here, sealed, until its bytes are uploaded (its own lane, so
// a big photo never holds up a status change); then its attachment joins the outbox. No key,
// no photo kept: it is never stored in the clear.
import { authorised, locked, retryable, stillWaiting, waitAsked } from "./api.js";
import { enqueue, notice } from "./outbox.js";
import { Locked, seal, unseal } from "./seal.js";
import { read, withStores } from "./store.js";
import vocabulary from "./vocabulary.js";

/** @typedef {import("./outbox.js").Outcome} Outcome */

/** @param {string} jobId @param {string} kind @param {Blob} blob */
export async function keepPhoto(jobId, kind, blob) {
  const photoId = crypto.randomUUID();
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const sealed = await seal(bytes, "photo", photoId);
  if (!sealed) throw new Locked("no key: sign in, or enter the PIN");
  const type = blob.type || "image/jpeg";
  await withStores("photos", "readwrite", (s) => s.put({ photoId, jobId, kind, type, sealed }));
  return photoId;
}

/** @returns {Promise<number>} */
export const photosWaiting = () => withStores("photos", "readonly", (s) => s.count());
/** @returns {Promise<Outcome>} */
export const sendPhotos = () => locked(vocabulary.locks.photos, sendPhotosNow);

/**
 * Uploads the waiting photos one at a time (a phone has little memory); answers like send().
 * @returns {Promise<Outcome>}
 */
async function sendPhotosNow() {
  const asked = await stillWaiting();
  if (asked) return asked;
  let sent = false;
  for (const photoId of await withStores("photos", "readonly", (s) => s.getAllKeys())) {
    const record = await read("photos", photoId);
    if (!record) continue;
    const bytes = record.sealed && (await unseal(record.sealed, "photo", photoId));
    if (!bytes) continue; // another person's (or kept in the clear by an older build): never sent
    let answer;
    try {
      answer = await authorised(`/api/mobile/jobs/${record.jobId}/photos/upload-url`, {
        method: "POST", body: JSON.stringify({ kind: record.kind, contentType: record.type, photoId }) });
      if (answer.status === 401) return "signed-out";
      if (answer.ok) {
        // With a bucket (PHOTO_STORE=s3) the bytes go to it, then the app is told they landed.
        const { uploadUrl, uploadHeaders, completeUrl } = await answer.json();
        const headers = uploadHeaders || { "Content-Type": record.type };
        answer = await fetch(uploadUrl, { method: "PUT", body: bytes, headers });
        if (completeUrl && answer.status === 403) return 0; // the bucket's URL lapsed: ask anew
        if (completeUrl && answer.ok) answer = await fetch(completeUrl, { method: "POST" });
      }
    } catch {
      return 0;
    }
    if (retryable(answer.status)) return waitAsked(answer);
    const result = await answer.json().catch(() => ({}));
    if (result.code === "link_expired") return 0; // a slow upload outlived its URL: ask anew
    if (answer.ok) {
      await enqueue({ mutationId: crypto.randomUUID(), kind: "photo", jobId: record.jobId, photoId: result.photoId });
    } else {
      await notice({ mutationId: photoId, reason: result.detail || String(answer.status) });
    }
    await withStores("photos", "readwrite", (s) => s.delete(photoId));
    sent = true;
  }
  return sent ? "sent" : "empty";
}
