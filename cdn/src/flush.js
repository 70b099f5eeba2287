// Sending what waits, the one way the page and the service worker both do it: the outbox first
// (a status change must not wait behind a photo), then the photo lane, then the photos'
// attachments, then the receipts of notifications that could not be posted.
import { send } from "./outbox.js";
import { sendPhotos } from "./photos.js";
import { sendReceipts } from "./receipts.js";

/**
 * @typedef {object} Flushed
 * @property {boolean} sent a change or a photo went (open views may be out of date)
 * @property {boolean} signedOut the server refused the session: the rest waits for a sign-in
 * @property {number | null} retryAfter what waits must be sent again after this many ms
 */

/** @returns {Promise<Flushed>} */
export async function flush() {
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
