// Sending what waits, the one way the page and the service worker both do it: the outbox first
// (a status change must not wait behind a photo), then the photo lane, then the photos'
// attachments, then the receipts of notifications that could not be posted. A wait the server
// asked for (429 or 503 with Retry-After) is kept in the vault and honoured by every context:
// nothing is sent before it, and nothing is dropped meanwhile.
import { fetchKey, stillWaiting } from "./api.js";
import { send } from "./outbox.js";
import { sendPhotos } from "./photos.js";
import { sendReceipts } from "./receipts.js";
import { holding } from "./seal.js";

/**
 * @typedef {object} Flushed
 * @property {boolean} sent a change or a photo went (open views may be out of date)
 * @property {boolean} signedOut the server refused the session: the rest waits for a sign-in
 * @property {number | null} retryAfter what waits must be sent again after this many ms
 */

/** @returns {Promise<Flushed>} */
export async function flush() {
  const asked = await stillWaiting();
  if (asked) return { sent: false, signedOut: false, retryAfter: asked };
  if (!holding()) await fetchKey().catch(() => null); // a worker started afresh has no key yet
  let outcome = await send();
  const uploaded = outcome === "signed-out" ? outcome : await sendPhotos();
  if (uploaded === "sent") outcome = await send(); // the photos' attachments
  const outcomes = [outcome, uploaded];
  outcomes.push(outcomes.includes("signed-out") ? "signed-out" : await sendReceipts());
  const delays = outcomes.filter((o) => typeof o === "number");
  return {
    sent: outcome === "sent" || uploaded === "sent",
    signedOut: outcomes.includes("signed-out"),
    retryAfter: delays.length ? Math.max(...delays) : null,
  };
}
