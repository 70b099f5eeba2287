// Tinedy Field's offline vault, shared by the page and the service worker (importScripts).
// What the app keeps offline, the outbox of changes and the cached job data, is sealed with
// AES-GCM under this device's key from the server. The key is kept as a non-extractable
// CryptoKey, so script can use it but never read it out; it is forgotten when the session is
// refused, and the server will not hand it to a revoked device again.
"use strict";

const vault = (() => {
  const DB = "tinedy-vault";
  const KEY_URL = "/api/mobile/auth/offline-key";
  const SYNC_URL = "/api/mobile/sync";
  const MAX_AGE_MS = 48 * 3600e3; // cached job data older than this is never shown offline
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();

  function withStore(name, mode, work) {
    return new Promise((resolve, reject) => {
      const open = indexedDB.open(DB, 1);
      open.onupgradeneeded = () => {
        open.result.createObjectStore("outbox", { keyPath: "mutationId" });
        open.result.createObjectStore("notices", { keyPath: "mutationId" });
        open.result.createObjectStore("meta");
        open.result.createObjectStore("photos", { keyPath: "photoId" });
      };
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const tx = open.result.transaction(name, mode);
        let request;
        tx.oncomplete = () => { open.result.close(); resolve(request && request.result); };
        tx.onerror = tx.onabort = () => { open.result.close(); reject(tx.error); };
        try {
          request = work(tx.objectStore(name));
        } catch (error) {
          tx.abort(); // nothing half-written, and the caller hears of it
          reject(error);
        }
      };
    });
  }
  const read = (name, key) => withStore(name, "readonly", (s) => s.get(key));
  const write = (name, key, value) => withStore(name, "readwrite", (s) => s.put(value, key));

  async function deviceId() {
    let id = await read("meta", "deviceId");
    if (!id) await write("meta", "deviceId", (id = crypto.randomUUID()));
    return id;
  }

  async function fetchKey() {
    const response = await authorised(KEY_URL, { method: "GET" });
    if (!response.ok) return null;
    const { key } = await response.json();
    const raw = Uint8Array.from(atob(key.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    const cryptoKey = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    await write("meta", "key", cryptoKey);
    return cryptoKey;
  }

  const key = () => read("meta", "key");

  async function seal(bytes) {
    const k = await key();
    if (!k) return null;
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, k, bytes));
    const out = new Uint8Array(12 + sealed.length);
    out.set(iv);
    out.set(sealed, 12);
    return out;
  }

  async function unseal(bytes) {
    const k = await key();
    if (!k) return null;
    try {
      const data = new Uint8Array(bytes);
      return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: data.slice(0, 12) }, k, data.slice(12)));
    } catch {
      return null; // sealed under another key: unreadable, as it should be
    }
  }

  // Cached API answers: sealed bytes in Cache Storage, with when they were fetched.
  async function sealResponse(response) {
    const sealed = await seal(new Uint8Array(await response.arrayBuffer()));
    if (!sealed) return null; // no key: keep nothing rather than keep it in the clear
    return new Response(sealed, { headers: {
      "Content-Type": "application/octet-stream",
      "X-Sealed-Type": response.headers.get("Content-Type") || "application/json",
      "X-Sealed-At": String(Date.now()) } });
  }

  async function unsealResponse(cached) {
    if (!cached || !cached.headers.has("X-Sealed-At")) return null;
    if (Date.now() - Number(cached.headers.get("X-Sealed-At")) > MAX_AGE_MS) return null;
    const plain = await unseal(await cached.arrayBuffer());
    if (!plain) return null;
    return new Response(plain, { headers: { "Content-Type": cached.headers.get("X-Sealed-Type") } });
  }

  // The outbox: each change waits under its mutationId, sealed, until the server answers.
  async function enqueue(entry) {
    const sealed = await seal(encoder.encode(JSON.stringify(entry)));
    // A change made before this device ever got its key is kept unsealed: never dropped.
    const record = sealed ? { mutationId: entry.mutationId, sealed } : { mutationId: entry.mutationId, entry };
    await withStore("outbox", "readwrite", (s) => s.put(record));
  }

  async function waiting() {
    const records = await withStore("outbox", "readonly", (s) => s.getAll());
    const entries = [];
    for (const record of records) {
      if (record.entry) { entries.push(record.entry); continue; }
      const plain = await unseal(record.sealed);
      entries.push(plain ? JSON.parse(decoder.decode(plain)) : { mutationId: record.mutationId, sealedAway: true });
    }
    return entries;
  }

  // Refreshes at most once at a time across the page and the worker (Web Locks): two refreshes
  // spending the same token would look like a stolen token and sign the device out.
  async function authorised(url, options) {
    const request = () => fetch(url, { credentials: "same-origin", ...options,
      headers: { "X-Requested-With": "fetch", "Content-Type": "application/json", ...options.headers } });
    const response = await request();
    if (response.status !== 401) return response;
    const refresh = async () => {
      const again = await request(); // another context may have refreshed meanwhile
      if (again.status !== 401) return again;
      const refreshed = await fetch("/api/mobile/auth/refresh", {
        method: "POST", credentials: "same-origin", headers: { "X-Requested-With": "fetch" } });
      if (refreshed.status === 401) await forget();
      return refreshed.ok ? request() : again;
    };
    return navigator.locks ? navigator.locks.request("tinedy-refresh", refresh) : refresh();
  }

  // Sends every readable waiting change in one batch. Returns "sent", "empty", "signed-out",
  // or a delay in ms to retry after (network errors, 408, 429 as Retry-After asks, 5xx).
  // Nothing leaves the outbox until the server has answered for it.
  // One sender at a time across the page and the worker (Web Locks).
  const send = () => (navigator.locks ? navigator.locks.request("tinedy-outbox", sendNow) : sendNow());

  async function sendNow() {
    const entries = (await waiting()).filter((e) => !e.sealedAway);
    if (!entries.length) return "empty";
    const strip = ({ kind, ...rest }) => rest;
    const body = {
      deviceId: await deviceId(), deviceTime: new Date().toISOString(),
      pendingUpdates: entries.filter((e) => e.kind === "update").map(strip),
      checkIns: entries.filter((e) => e.kind === "checkIn").map(strip),
      photos: entries.filter((e) => e.kind === "photo").map(strip),
    };
    let response;
    try {
      response = await authorised(SYNC_URL, { method: "POST", body: JSON.stringify(body) });
    } catch {
      return 0;
    }
    if (response.status === 401) return "signed-out"; // they wait for the next sign-in
    if (!response.ok) return Number(response.headers.get("Retry-After")) * 1000 || 0;
    const answer = await response.json();
    const notices = [
      ...answer.synced.map((mutationId) => ({ mutationId, ok: true })),
      ...[...answer.conflicts, ...answer.failed].map((p) => ({
        mutationId: p.mutationId, jobId: p.jobId, reason: p.reason || p.message || p.code })),
    ];
    await withStore("outbox", "readwrite", (s) => entries.forEach((e) => s.delete(e.mutationId)));
    await withStore("notices", "readwrite", (s) => notices.forEach((n) => s.put(n)));
    return "sent";
  }

  // The photo lane: a photo waits here, sealed, until its bytes are uploaded (its own lane,
  // so a big photo never holds up a status change); then its attachment joins the outbox.
  async function keepPhoto(jobId, kind, blob) {
    const photoId = crypto.randomUUID();
    const bytes = new Uint8Array(await blob.arrayBuffer());
    const sealed = await seal(bytes);
    const type = blob.type || "image/jpeg";
    await withStore("photos", "readwrite", (s) =>
      s.put({ photoId, jobId, kind, type, ...(sealed ? { sealed } : { bytes }) }));
    return photoId;
  }

  const photosWaiting = () => withStore("photos", "readonly", (s) => s.count());
  const retryable = (status) => status === 408 || status === 429 || status >= 500;
  const delayOf = (response) => Number(response.headers.get("Retry-After")) * 1000 || 0;
  const sendPhotos = () =>
    (navigator.locks ? navigator.locks.request("tinedy-photos", sendPhotosNow) : sendPhotosNow());

  // Uploads every readable waiting photo; answers like send().
  async function sendPhotosNow() {
    const records = await withStore("photos", "readonly", (s) => s.getAll());
    for (const record of records) {
      const bytes = record.sealed ? await unseal(record.sealed) : record.bytes;
      if (!bytes) continue; // sealed under another key: it waits for its owner
      let answer;
      try {
        answer = await authorised(`/api/mobile/jobs/${record.jobId}/photos/upload-url`, {
          method: "POST",
          body: JSON.stringify({ kind: record.kind, contentType: record.type, photoId: record.photoId }) });
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
      if (answer.ok) {
        await enqueue({ mutationId: crypto.randomUUID(), kind: "photo", jobId: record.jobId, photoId: result.photoId });
      } else {
        await withStore("notices", "readwrite", (s) =>
          s.put({ mutationId: record.photoId, reason: result.detail || String(answer.status) }));
      }
      await withStore("photos", "readwrite", (s) => s.delete(record.photoId));
    }
    return records.length ? "sent" : "empty";
  }

  // The server's answer for each change, until a page has shown it (the worker may have sent
  // while no page was open).
  async function takeNotices() {
    const notices = await withStore("notices", "readonly", (s) => s.getAll());
    if (notices.length) await withStore("notices", "readwrite", (s) => s.clear());
    return notices;
  }

  // The session was refused: forget the key and the cached data. Waiting changes stay,
  // sealed, until this person signs in on this device again and gets the same key back.
  async function forget() {
    await withStore("meta", "readwrite", (s) => s.delete("key"));
    for (const name of await caches.keys()) if (name.startsWith("tinedy-data-")) await caches.delete(name);
  }

  return { deviceId, fetchKey, key, sealResponse, unsealResponse, enqueue, waiting, send,
    keepPhoto, photosWaiting, sendPhotos, takeNotices, forget, authorised };
})();
