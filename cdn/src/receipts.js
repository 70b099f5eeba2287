// Notification receipts ("displayed", "clicked"), posted by the worker as they happen and in
// order: one that cannot be posted yet (no network, 408, 429, 5xx, signed out) waits in its
// own lane and goes with the next flush or sync; any other 4xx is final (gone, not this
// person's), and the receipt is dropped. Ids only: nothing in them needs sealing.
import { authorised, locked, retryable, waitAsked } from "./api.js";
import { withStores } from "./store.js";
import vocabulary from "./vocabulary.js";

/** @typedef {import("./outbox.js").Outcome} Outcome */
/** @typedef {{ key: string, notificationId: string, deliveryId: string, event: string, at: number }} Receipt */

/** @param {string} notificationId @param {string} deliveryId @param {string} event */
export const receipt = (notificationId, deliveryId, event) => locked(vocabulary.locks.receipts, async () => {
  const record = { key: `${deliveryId} ${event}`, notificationId, deliveryId, event, at: Date.now() };
  let outcome = await sendReceiptsNow();
  if (outcome === "sent" || outcome === "empty") outcome = await postReceipt(record);
  if (outcome !== "sent") await withStores("receipts", "readwrite", (s) => s.put(record));
  return outcome;
});

/** @returns {Promise<Outcome>} */
export const sendReceipts = () => locked(vocabulary.locks.receipts, sendReceiptsNow);

/** @returns {Promise<Outcome>} */
async function sendReceiptsNow() {
  /** @type {Receipt[]} */
  const records = (await withStores("receipts", "readonly", (s) => s.getAll())) || [];
  records.sort((a, b) => a.at - b.at);
  for (const record of records) {
    const outcome = await postReceipt(record);
    if (outcome !== "sent") return outcome;
    await withStores("receipts", "readwrite", (s) => s.delete(record.key));
  }
  return records.length ? "sent" : "empty";
}

/** @param {Receipt} receipt @returns {Promise<Outcome>} */
async function postReceipt({ notificationId, deliveryId, event }) {
  try {
    const response = await authorised(`/api/mobile/notifications/${encodeURIComponent(notificationId)}/receipts`,
      { method: "POST", body: JSON.stringify({ event, deliveryId }), redirect: "error" });
    if (response.status === 401) return "signed-out";
    return retryable(response.status) ? waitAsked(response) : "sent";
  } catch {
    return 0;
  }
}
