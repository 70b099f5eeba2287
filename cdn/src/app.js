// Tinedy Field: the app shell. Plain browser JavaScript, no build step beyond hashing.
"use strict";

const T = {
  th: { signIn: "เข้าสู่ระบบ", email: "อีเมล", password: "รหัสผ่าน", today: "งานวันนี้",
        none: "วันนี้ไม่มีงาน", offline: "ออฟไลน์", waiting: "รอส่ง", back: "กลับ",
        checkIn: "เช็คอิน", checklist: "รายการตรวจ", failed: "ไม่สำเร็จ", signOut: "ออกจากระบบ",
        en_route: "กำลังไป", in_progress: "เริ่มงาน", completed: "เสร็จแล้ว" },
  en: { signIn: "Sign in", email: "Email", password: "Password", today: "Today's jobs",
        none: "No jobs today", offline: "Offline", waiting: "waiting", back: "Back",
        checkIn: "Check in", checklist: "Checklist", failed: "Failed", signOut: "Sign out",
        en_route: "On my way", in_progress: "Start", completed: "Done" },
};
const STATUS = {
  th: { pending: "รอจ่ายงาน", assigned: "ได้รับงาน", en_route: "กำลังเดินทาง",
        in_progress: "กำลังทำ", completed: "เสร็จแล้ว", cancelled: "ยกเลิก" },
  en: { pending: "Pending", assigned: "Assigned", en_route: "On the way",
        in_progress: "In progress", completed: "Completed", cancelled: "Cancelled" },
};
const NEXT = { assigned: "en_route", en_route: "in_progress", in_progress: "completed" };
const OUTBOX = "tinedy-outbox";
let lang = (navigator.language || "th").startsWith("th") ? "th" : "en";
let user = JSON.parse(localStorage.getItem("tinedy-user") || "null");
const app = document.getElementById("app");
const t = (key) => T[lang][key] || key;
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function api(path, options = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    ...options,
    headers: { "X-Requested-With": "fetch", "Content-Type": "application/json", ...options.headers },
  });
  if (response.status === 401 && path !== "/api/mobile/auth/refresh") {
    const refreshed = await fetch("/api/mobile/auth/refresh", {
      method: "POST", credentials: "same-origin", headers: { "X-Requested-With": "fetch" } });
    if (refreshed.ok) return api(path, options);
    signedOut();
  }
  return response;
}

function signedOut() {
  user = null;
  localStorage.removeItem("tinedy-user");
  showSignIn();
}

function showSignIn() {
  app.innerHTML = `<form id="login"><h2>${t("signIn")}</h2>
    <input name="email" type="email" autocomplete="username" placeholder="${t("email")}" required>
    <input name="password" type="password" autocomplete="current-password" placeholder="${t("password")}" required>
    <button>${t("signIn")}</button><p id="err" class="muted"></p></form>`;
  document.getElementById("login").onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const device = { id: deviceId(), name: navigator.userAgent.slice(0, 100), platform: "web" };
    const response = await api("/api/mobile/auth/login", {
      method: "POST",
      body: JSON.stringify({ email: form.get("email"), password: form.get("password"), device }),
    });
    if (!response.ok) {
      document.getElementById("err").textContent = (await response.json()).detail;
      return;
    }
    user = (await response.json()).user;
    lang = user.locale;
    localStorage.setItem("tinedy-user", JSON.stringify(user));
    start();
  };
}

function deviceId() {
  let id = localStorage.getItem("tinedy-device");
  if (!id) localStorage.setItem("tinedy-device", (id = crypto.randomUUID()));
  return id;
}

function bangkokDay(offsetDays) {
  const now = new Date(Date.now() + 7 * 3600e3 + offsetDays * 864e5);
  return now.toISOString().slice(0, 10);
}

async function showJobs() {
  const response = await api(`/api/mobile/jobs?from=${bangkokDay(0)}&to=${bangkokDay(1)}&limit=100`);
  if (!response.ok) return;
  const { jobs } = await response.json();
  app.innerHTML = `<h2>${t("today")}</h2>` + (jobs.length ? `<ul class="jobs">${jobs.map((job) => `
    <li><a href="#job/${job.id}"><strong>${esc(job.scheduledDate.slice(11, 16))}</strong>
    ${esc(job.customerName)} <span class="tag ${job.priority}">${esc(job.priority)}</span>
    <br><span class="muted">${esc(job.serviceType)} · ${esc(STATUS[lang][job.status])} · ${esc(job.address)}</span></a></li>`).join("")}</ul>`
    : `<p class="muted">${t("none")}</p>`) + `<p><button class="ghost" id="out">${t("signOut")}</button></p>`;
  document.getElementById("out").onclick = async () => {
    await api("/api/mobile/auth/logout", { method: "POST" });
    signedOut();
  };
}

async function showJob(id) {
  const response = await api(`/api/mobile/jobs/${id}`);
  if (!response.ok) return showJobs();
  const { job, checklistItems, customerContact } = await response.json();
  const next = NEXT[job.status];
  app.innerHTML = `<p><a href="#">${t("back")}</a></p><h2>${esc(job.customerName)}</h2>
    <p class="muted">${esc(job.serviceType)} · ${esc(job.address)}<br>${esc(customerContact.phone)}</p>
    <p>${esc(job.notes)}</p>
    <div class="steps">${next ? `<button id="step">${t(next)}</button>` : ""}
    <button class="ghost" id="checkin">${t("checkIn")}</button></div>
    <h3>${t("checklist")}</h3>${checklistItems.map((item) => `<label class="check">
    <input type="checkbox" data-item="${item.id}" ${item.done ? "checked" : ""}> ${esc(item.label)}</label>`).join("")}`;
  const queue = (change) => enqueue({ jobId: job.id, baseVersion: job.version, ...change });
  if (next) document.getElementById("step").onclick = () => queue({ status: next });
  app.querySelectorAll("[data-item]").forEach((box) => {
    box.onchange = () => queue({ checklist: [{ itemId: box.dataset.item, done: box.checked }] });
  });
  document.getElementById("checkin").onclick = () => navigator.geolocation.getCurrentPosition((at) =>
    enqueue({ checkIn: true, jobId: job.id, type: "in", accuracy: at.coords.accuracy,
      location: { lat: at.coords.latitude, lng: at.coords.longitude } }));
}

// The outbox: every change waits in IndexedDB under its mutationId until the server answers.
function outbox(mode, work) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(OUTBOX, 1);
    open.onupgradeneeded = () => open.result.createObjectStore("changes", { keyPath: "mutationId" });
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction("changes", mode);
      const result = work(tx.objectStore("changes"));
      tx.oncomplete = () => resolve(result && result.result);
      tx.onerror = () => reject(tx.error);
    };
  });
}

let retryDelay = 0;
let retryTimer = null;

function retryLater(response) {
  // Network errors, 408, 429 (as Retry-After asks) and 5xx: try again, backing off to 5 min.
  const asked = Number(response && response.headers.get("Retry-After"));
  retryDelay = asked > 0 ? asked * 1000 : Math.min(Math.max(retryDelay * 2, 2000), 300000);
  clearTimeout(retryTimer);
  retryTimer = setTimeout(flush, retryDelay);
}

async function enqueue(change) {
  const at = new Date().toISOString();
  const entry = change.checkIn
    ? { mutationId: crypto.randomUUID(), kind: "checkIn", jobId: change.jobId, type: change.type,
        location: change.location, accuracy: change.accuracy, timestamp: at }
    : { mutationId: crypto.randomUUID(), kind: "update", clientTimestamp: at, ...change };
  await outbox("readwrite", (store) => store.put(entry));
  const worker = await navigator.serviceWorker?.ready;
  if (worker && worker.sync) worker.sync.register("tinedy-outbox").catch(() => {});
  await flush();
}

async function flush() {
  const waiting = await outbox("readonly", (store) => store.getAll());
  showNetwork(waiting.length);
  if (!waiting.length || !navigator.onLine) return;
  const strip = ({ kind, ...rest }) => rest;
  const body = {
    deviceId: deviceId(), deviceTime: new Date().toISOString(), photos: [],
    pendingUpdates: waiting.filter((e) => e.kind === "update").map(strip),
    checkIns: waiting.filter((e) => e.kind === "checkIn").map(strip),
  };
  let response;
  try {
    response = await api("/api/mobile/sync", { method: "POST", body: JSON.stringify(body) });
  } catch {
    return retryLater(null); // no network: the changes wait
  }
  if (!response.ok) return retryLater(response); // a refused batch keeps every change
  retryDelay = 0;
  const answer = await response.json();
  await outbox("readwrite", (store) => waiting.forEach((e) => store.delete(e.mutationId)));
  const problems = [...answer.conflicts, ...answer.failed];
  if (problems.length) alert(`${t("failed")}: ${problems.map((p) => p.reason || p.message).join("; ")}`);
  showNetwork(0);
  route();
}

function showNetwork(waiting) {
  const badge = document.getElementById("net");
  const offline = !navigator.onLine;
  badge.hidden = !offline && !waiting;
  badge.textContent = [offline ? t("offline") : "", waiting ? `${waiting} ${t("waiting")}` : ""]
    .filter(Boolean).join(" · ");
}

function listen() {
  const live = new EventSource("/api/mobile/live-updates", { withCredentials: true });
  live.onmessage = route;
  ["job-assigned", "job-unassigned", "status-updated", "priority-alert", "job-updated",
   "job-rescheduled", "job-cancelled", "team-update", "reset"].forEach((name) =>
    live.addEventListener(name, route));
  live.addEventListener("closing", () => live.close());
}

function route() {
  const [view, id] = location.hash.slice(1).split("/");
  return view === "job" && id ? showJob(id) : showJobs();
}

function start() {
  if (!user) return showSignIn();
  route();
  flush();
  listen();
}

window.addEventListener("hashchange", route);
navigator.serviceWorker?.addEventListener("message", (event) => {
  if (event.data && event.data.type === "flush") flush();
});
window.addEventListener("online", flush);
window.addEventListener("offline", () => showNetwork(0));
if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js");
start();
