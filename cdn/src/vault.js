// Tinedy Field's offline vault, shared by the page and the service worker (importScripts,
// after vocabulary.js).
// What the app keeps offline, the outbox of changes, the photo lane and the cached job data,
// is sealed with AES-GCM under this device's key from the server. The key is kept as a
// non-extractable CryptoKey, so script can use it but never read it out; it is forgotten when
// the session is refused, and the server will not hand it to a revoked device again.
"use strict";

const vault = (() => {
  const DB = VOCABULARY.storage.vault;
  const STORES = { outbox: { keyPath: "mutationId" }, notices: { keyPath: "mutationId" },
    meta: undefined, photos: { keyPath: "photoId" }, receipts: { keyPath: "key" } };
  const KEY_URL = "/api/mobile/auth/offline-key";
  const SYNC_URL = "/api/mobile/sync";
  const PUSH_KEY_URL = "/api/mobile/push/vapid-public-key";
  const PUSH_URL = "/api/mobile/push/subscriptions";
  const BATCH = 200; // mutations per sync request (the server takes up to 1,000)
  const MAX_AGE_MS = 48 * 3600e3; // cached job data older than this is never shown offline
  const LONG_WAIT_MS = 300e3;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();

  // The vault is opened at whatever version it has (a newer build's too, so a build never
  // locks itself out), and a store this build has and the vault lacks is added only when it
  // is first written: a page still running an older build opens its own version number and
  // fails on a higher one, so the version moves only when it must (on a new vault, every
  // store is there from version 1). A store read before it exists holds nothing: null.
  function open(names, mode, version) {
    return new Promise((resolve, reject) => {
      const request = version ? indexedDB.open(DB, version) : indexedDB.open(DB);
      request.onupgradeneeded = () => {
        for (const [name, options] of Object.entries(STORES)) {
          if (!request.result.objectStoreNames.contains(name)) request.result.createObjectStore(name, options);
        }
      };
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new Error("the vault is open in an older version of the app"));
      request.onsuccess = () => {
        const db = request.result;
        db.onversionchange = () => db.close(); // let a newer version of the app upgrade
        if (names.every((name) => db.objectStoreNames.contains(name))) return resolve(db);
        db.close();
        if (mode === "readonly") return resolve(null);
        if (version) return reject(new Error("the vault could not add its stores"));
        open(names, mode, db.version + 1).then(resolve, reject);
      };
    });
  }

  // One transaction over one or more stores; settles in every case (an error rejects).
  async function withStores(names, mode, work) {
    const db = await open([names].flat(), mode);
    if (!db) return null;
    return new Promise((resolve, reject) => {
      let result;
      try {
        const tx = db.transaction(names, mode);
        tx.oncomplete = () => { db.close(); resolve(result && "result" in result ? result.result : result); };
        tx.onerror = tx.onabort = () => { db.close(); reject(tx.error); };
        const stores = [names].flat().map((name) => tx.objectStore(name));
        try {
          result = work(...stores);
        } catch (error) {
          tx.abort(); // nothing half-written, and the caller hears of it
          throw error;
        }
      } catch (error) {
        db.close();
        reject(error);
      }
    });
  }
  const read = (name, key) => withStores(name, "readonly", (s) => s.get(key));
  const write = (name, key, value) => withStores(name, "readwrite", (s) => s.put(value, key));

  async function deviceId() {
    let id = await read("meta", "deviceId");
    if (!id) await write("meta", "deviceId", (id = crypto.randomUUID()));
    return id;
  }

  async function fetchKey() {
    const response = await authorised(KEY_URL, { method: "GET" });
    if (!response.ok) return null;
    const { key } = await response.json();
    const cryptoKey = await crypto.subtle.importKey("raw", bytesOf(key), "AES-GCM", false, ["encrypt", "decrypt"]);
    await write("meta", "key", cryptoKey);
    return cryptoKey;
  }

  const key = () => read("meta", "key");
  const bytesOf = (base64url) =>
    Uint8Array.from(atob(base64url.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

  // Sealed bytes are a fresh 12-byte IV, then the ciphertext; ``context`` (what the bytes
  // are: a URL and time, a mutationId) is bound in as additional data, so sealed records
  // cannot be swapped or re-dated.
  async function seal(bytes, context) {
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

  async function unseal(bytes, context) {
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
  async function sealResponse(response, url) {
    const at = String(Date.now());
    const sealed = await seal(new Uint8Array(await response.arrayBuffer()), `${url}\n${at}`);
    if (!sealed) return null; // no key: keep nothing rather than keep it in the clear
    return new Response(sealed, { headers: {
      "Content-Type": "application/octet-stream",
      "X-Sealed-Type": response.headers.get("Content-Type") || "application/json",
      "X-Sealed-At": at } });
  }

  // Whether a kept answer is recent enough to be shown offline.
  const current = (cached) => Boolean(cached && cached.headers.has("X-Sealed-At") &&
    Date.now() - Number(cached.headers.get("X-Sealed-At")) <= MAX_AGE_MS);

  async function unsealResponse(cached, url) {
    if (!current(cached)) return null;
    const at = cached.headers.get("X-Sealed-At");
    const plain = await unseal(await cached.arrayBuffer(), `${url}\n${at}`);
    if (!plain) return null;
    return new Response(plain, { headers: { "Content-Type": cached.headers.get("X-Sealed-Type") } });
  }

  // The outbox: each change waits under its mutationId, sealed, in the order it was made,
  // until the server answers for it.
  let counter = 0;
  async function enqueue(entry) {
    const seq = Date.now() * 1000 + (counter++ % 1000);
    const sealed = await seal(encoder.encode(JSON.stringify(entry)), entry.mutationId);
    // A change made before this device ever got its key is kept unsealed: never dropped.
    const record = sealed ? { mutationId: entry.mutationId, seq, sealed } : { mutationId: entry.mutationId, seq, entry };
    await withStores("outbox", "readwrite", (s) => s.put(record));
  }

  async function waiting() {
    const records = await withStores("outbox", "readonly", (s) => s.getAll());
    records.sort((a, b) => (a.seq || 0) - (b.seq || 0));
    const entries = [];
    for (const record of records) {
      if (record.entry) { entries.push(record.entry); continue; }
      const plain = await unseal(record.sealed, record.mutationId);
      entries.push(plain ? JSON.parse(decoder.decode(plain)) : { mutationId: record.mutationId, sealedAway: true });
    }
    return entries;
  }

  // Refreshes at most once at a time across the page and the worker (Web Locks): two refreshes
  // spending the same token would look like a stolen token and sign the device out. Nothing
  // here goes to the HTTP cache: per-user answers must not sit on disk in the clear.
  async function authorised(url, options) {
    const request = () => fetch(url, { credentials: "same-origin", cache: "no-store", ...options,
      headers: { "X-Requested-With": "fetch", "Content-Type": "application/json", ...options.headers } });
    const response = await request();
    if (response.status !== 401) return response;
    return locked(VOCABULARY.locks.refresh, async () => {
      const again = await request(); // another context may have refreshed meanwhile
      if (again.status !== 401) return again;
      const refreshed = await fetch("/api/mobile/auth/refresh", {
        method: "POST", credentials: "same-origin", cache: "no-store", headers: { "X-Requested-With": "fetch" } });
      if (refreshed.status === 401) {
        await forget();
        return again; // signed out for good
      }
      return refreshed.ok ? request() : refreshed; // the refresh itself must wait: retry later
    });
  }

  const locked = (name, work) => (navigator.locks ? navigator.locks.request(name, work) : work());
  const retryable = (status) => status === 408 || status === 429 || status >= 500;
  const delayOf = (response) => Number(response.headers.get("Retry-After")) * 1000 || 0;

  // Sends the waiting changes, oldest first, in batches. Returns "sent", "empty",
  // "signed-out", or a delay in ms to retry after (network errors, 408, 429 as Retry-After
  // asks, 5xx; a batch the server cannot take is kept, shown, and tried again much later).
  // Nothing leaves the outbox until the server has answered for it.
  const send = () => locked(VOCABULARY.locks.outbox, sendNow);

  async function sendNow() {
    const entries = (await waiting()).filter((e) => !e.sealedAway).slice(0, BATCH);
    if (!entries.length) return "empty";
    const strip = ({ kind, ...rest }) => rest;
    const body = {
      deviceId: await deviceId(), deviceTime: new Date().toISOString(),
      pendingUpdates: entries.filter((e) => e.kind === "update").map(strip),
      checkIns: entries.filter((e) => e.kind === "checkIn").map(strip),
      photos: entries.filter((e) => e.kind === "photo").map(strip),
    };
    let answer;
    try {
      const response = await authorised(SYNC_URL, { method: "POST", body: JSON.stringify(body), redirect: "error" });
      if (response.status === 401) return "signed-out"; // they wait for the next sign-in
      if (retryable(response.status)) return delayOf(response);
      if (!response.ok) {
        const problem = await response.json().catch(() => ({}));
        await notice({ mutationId: `batch-${response.status}`, reason: problem.detail || String(response.status) });
        return LONG_WAIT_MS;
      }
      answer = await response.json();
    } catch {
      return 0; // no network, or not our server answering (a captive portal)
    }
    const notices = [
      ...answer.synced.map((mutationId) => ({ mutationId, ok: true })),
      ...[...answer.conflicts, ...answer.failed].map((p) => ({
        mutationId: p.mutationId, jobId: p.jobId, reason: p.reason || p.message || p.code })),
    ];
    await withStores(["outbox", "notices"], "readwrite", (outbox, kept) => {
      entries.forEach((e) => outbox.delete(e.mutationId));
      notices.forEach((n) => kept.put(n));
    });
    return "sent";
  }

  const notice = (entry) => withStores("notices", "readwrite", (s) => s.put(entry));

  // The photo lane: a photo waits here, sealed, until its bytes are uploaded (its own lane,
  // so a big photo never holds up a status change); then its attachment joins the outbox.
  async function keepPhoto(jobId, kind, blob) {
    const photoId = crypto.randomUUID();
    const bytes = new Uint8Array(await blob.arrayBuffer());
    const sealed = await seal(bytes, photoId);
    const type = blob.type || "image/jpeg";
    await withStores("photos", "readwrite", (s) =>
      s.put({ photoId, jobId, kind, type, ...(sealed ? { sealed } : { bytes }) }));
    return photoId;
  }

  const photosWaiting = () => withStores("photos", "readonly", (s) => s.count());
  const sendPhotos = () => locked(VOCABULARY.locks.photos, sendPhotosNow);

  // Uploads the waiting photos one at a time (a phone has little memory); answers like send().
  async function sendPhotosNow() {
    let sent = false;
    for (const photoId of await withStores("photos", "readonly", (s) => s.getAllKeys())) {
      const record = await read("photos", photoId);
      if (!record) continue;
      const bytes = record.sealed ? await unseal(record.sealed, photoId) : record.bytes;
      if (!bytes) continue; // sealed under another key: it waits for its owner
      let answer;
      try {
        answer = await authorised(`/api/mobile/jobs/${record.jobId}/photos/upload-url`, {
          method: "POST", body: JSON.stringify({ kind: record.kind, contentType: record.type, photoId }) });
        if (answer.status === 401) return "signed-out";
        if (answer.ok) {
          const { uploadUrl } = await answer.json();
          answer = await fetch(uploadUrl, { method: "PUT", body: bytes, headers: { "Content-Type": record.type } });
        }
      } catch {
        return 0;
      }
      if (retryable(answer.status)) return delayOf(answer);
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

  // The server's answer for each change, until a page has shown it (the worker may have sent
  // while no page was open). Read and removed in one go: none is lost or shown twice.
  function takeNotices() {
    let taken = [];
    return withStores("notices", "readwrite", (s) => {
      const all = s.getAll();
      all.onsuccess = () => {
        taken = all.result;
        taken.forEach((n) => s.delete(n.mutationId));
      };
    }).then(() => taken);
  }

  // Notification receipts ("displayed", "clicked"), posted by the worker as they happen and in
  // order: one that cannot be posted yet (no network, 408, 429, 5xx, signed out) waits in its
  // own lane and goes with the next flush or sync; any other 4xx is final (gone, not this
  // person's), and the receipt is dropped. Ids only: nothing in them needs sealing.
  const receipt = (notificationId, deliveryId, event) => locked(VOCABULARY.locks.receipts, async () => {
    const record = { key: `${deliveryId} ${event}`, notificationId, deliveryId, event, at: Date.now() };
    let outcome = await sendReceiptsNow();
    if (outcome === "sent" || outcome === "empty") outcome = await postReceipt(record);
    if (outcome !== "sent") await withStores("receipts", "readwrite", (s) => s.put(record));
    return outcome;
  });

  const sendReceipts = () => locked(VOCABULARY.locks.receipts, sendReceiptsNow);

  async function sendReceiptsNow() {
    const records = (await withStores("receipts", "readonly", (s) => s.getAll())) || [];
    records.sort((a, b) => a.at - b.at);
    for (const record of records) {
      const outcome = await postReceipt(record);
      if (outcome !== "sent") return outcome;
      await withStores("receipts", "readwrite", (s) => s.delete(record.key));
    }
    return records.length ? "sent" : "empty";
  }

  async function postReceipt({ notificationId, deliveryId, event }) {
    try {
      const response = await authorised(`/api/mobile/notifications/${encodeURIComponent(notificationId)}/receipts`,
        { method: "POST", body: JSON.stringify({ event, deliveryId }), redirect: "error" });
      if (response.status === 401) return "signed-out";
      return retryable(response.status) ? delayOf(response) : "sent";
    } catch {
      return 0;
    }
  }

  // Web Push: this browser's subscription, registered with the server for the signed-in
  // person. What was registered (the server's id, the endpoint and keys, for whom) is kept, so
  // a subscription the browser renewed or re-keyed is registered again, and only then.
  async function subscribePush(registration, userId, renewed) {
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
    const now = { endpoint: json.endpoint, ...json.keys, userId };
    if (kept && Object.keys(now).every((k) => kept[k] === now[k])) return kept.id;
    const response = await authorised(PUSH_URL, { method: "POST", body: JSON.stringify(json) });
    if (!response.ok) return null;
    const { id } = await response.json();
    if (kept && kept.id !== id) await dropSubscription(kept.id); // the endpoint it replaces
    await write("meta", "push", { id, ...now });
    return id;
  }

  const dropSubscription = (id) =>
    authorised(`${PUSH_URL}/${encodeURIComponent(id)}`, { method: "DELETE" }).catch(() => null);

  // Signing out: the server forgets the subscription (while there is still a token, when
  // ``tellServer``), then the browser drops it.
  async function unsubscribePush(registration, tellServer) {
    const kept = await read("meta", "push");
    if (kept && tellServer) await dropSubscription(kept.id);
    if (kept) await withStores("meta", "readwrite", (s) => s.delete("push"));
    const subscription = registration && registration.pushManager && (await registration.pushManager.getSubscription());
    if (subscription) await subscription.unsubscribe();
  }

  // The session was refused: forget the key, the cached data and shared photos not yet
  // placed. Waiting changes stay, sealed, until this person signs in on this device again
  // and gets the same key back.
  async function forget() {
    await withStores("meta", "readwrite", (s) => s.delete("key"));
    for (const name of await caches.keys()) {
      if (name === VOCABULARY.caches.data || name === VOCABULARY.caches.shareInbox) await caches.delete(name);
    }
  }

  return { deviceId, fetchKey, key, sealResponse, unsealResponse, current, enqueue, waiting, send,
    keepPhoto, photosWaiting, sendPhotos, takeNotices, receipt, sendReceipts, subscribePush,
    unsubscribePush, forget, authorised };
})();
