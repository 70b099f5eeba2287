// Web Push: this browser's subscription, registered with the server for the signed-in person.
// What was registered (the server's id, the endpoint and keys, for whom) is kept, so a
// subscription the browser renewed or re-keyed is registered again, and only then.
import { authorised } from "./api.js";
import { bytesOf } from "./seal.js";
import { read, withStores, write } from "./store.js";

const PUSH_KEY_URL = "/api/mobile/push/vapid-public-key";
const PUSH_URL = "/api/mobile/push/subscriptions";

/**
 * @param {ServiceWorkerRegistration} registration
 * @param {string | null} userId who is signed in; null: whoever the kept subscription is for
 * @param {PushSubscription | null} [renewed] the browser's new subscription, if it renewed it
 */
export async function subscribePush(registration, userId, renewed) {
  const kept = await read("meta", "push");
  userId = userId || (kept && kept.userId);
  if (!userId) return null; // nobody signed in to receive it
  let subscription = renewed || (await registration.pushManager.getSubscription());
  if (!subscription) {
    const answer = await authorised(PUSH_KEY_URL, { method: "GET" });
    if (!answer.ok) return null;
    const applicationServerKey = bytesOf((await answer.json()).publicKey);
    subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey });
  }
  const json = subscription.toJSON();
  /** @type {Record<string, string | undefined>} */
  const now = { endpoint: json.endpoint, ...json.keys, userId };
  if (kept && Object.keys(now).every((k) => kept[k] === now[k])) return kept.id;
  const response = await authorised(PUSH_URL, { method: "POST", body: JSON.stringify(json) });
  if (!response.ok) return null;
  const { id } = await response.json();
  if (kept && kept.id !== id) await dropSubscription(kept.id); // the endpoint it replaces
  await write("meta", "push", { id, ...now });
  return id;
}

/** @param {string} id */
const dropSubscription = (id) =>
  authorised(`${PUSH_URL}/${encodeURIComponent(id)}`, { method: "DELETE" }).catch(() => null);

// Signing out: the server forgets the subscription (while there is still a token, when
// ``tellServer``), then the browser drops it.
/** @param {ServiceWorkerRegistration | undefined} registration @param {boolean} tellServer */
export async function unsubscribePush(registration, tellServer) {
  const kept = await read("meta", "push");
  if (kept && tellServer) await dropSubscription(kept.id);
  if (kept) await withStores("meta", "readwrite", (s) => s.delete("push"));
  const subscription = registration && registration.pushManager && (await registration.pushManager.getSubscription());
  if (subscription) await subscription.unsubscribe();
}

// In the page: silently where it is allowed already, after a tap where the person was never
// asked, not at all where they said no. A browser with no push service (or no signal) just
// goes without.
export const pushable = () => "PushManager" in self && "Notification" in self && "serviceWorker" in navigator;
export const pushAsk = () => pushable() && Notification.permission === "default";

/** @param {string | undefined} userId */
export function subscribe(userId) {
  if (!userId || !pushable() || Notification.permission !== "granted") return;
  navigator.serviceWorker.ready.then((registration) => subscribePush(registration, userId)).catch(() => {});
}

/** @param {boolean} tellServer */
export function dropPush(tellServer) {
  const registration = navigator.serviceWorker?.getRegistration() || Promise.resolve(undefined);
  return registration.then((r) => unsubscribePush(r, tellServer)).catch(() => {});
}
