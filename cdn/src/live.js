// Live updates. The browser reconnects by itself after a dropped connection; a stream the
// server ends says why: shutting down or falling behind (let the browser reconnect), an
// expired token (refresh, then open anew), a revoked session (stop). A stream that failed
// for good (a 401 after sleeping, a 502 from a proxy) is opened anew with a backoff, from
// the last event seen, so nothing in between is missed. The app redraws on every event the
// server can send: their names are the server's (vocabulary.events).
import vocabulary from "./vocabulary.js";

/** @type {EventSource | null} */
let live = null;
let lastEventId = "";
let liveDelay = 1000;
/** @type {{ heard: () => void, signedIn: () => boolean, check: () => Promise<boolean> }} */
let app;

/**
 * @param {object} handlers
 * @param {() => void} handlers.heard an event came
 * @param {() => boolean} handlers.signedIn whether someone is signed in still
 * @param {() => Promise<boolean>} handlers.check whether the session works (refreshing it)
 */
export function listen(handlers) {
  app = handlers;
  open();
}

function open() {
  closeLive();
  const since = lastEventId ? `?lastEventId=${encodeURIComponent(lastEventId)}` : "";
  const stream = (live = new EventSource(`/api/mobile/live-updates${since}`, { withCredentials: true }));
  /** @param {MessageEvent} event */
  const heard = (event) => {
    if (event.lastEventId) lastEventId = event.lastEventId;
    liveDelay = 1000;
    app.heard();
  };
  stream.onmessage = heard;
  vocabulary.events.forEach((name) => stream.addEventListener(name, heard));
  stream.addEventListener(vocabulary.closing, (event) => {
    const { reason } = JSON.parse(/** @type {MessageEvent} */ (event).data);
    if (reason === "session_revoked") closeLive();
    else if (reason === "token_expired") reopen(stream);
    // The office changed this person's role, branch or team: start again as who they now are.
    else if (reason === "session_changed") location.reload();
  });
  stream.onerror = () => {
    if (stream.readyState === EventSource.CLOSED) reopen(stream);
  };
}

/** @param {EventSource} stream */
async function reopen(stream) {
  stream.close();
  if (stream !== live || !app.signedIn()) return;
  await new Promise((resolve) => setTimeout(resolve, liveDelay));
  liveDelay = Math.min(liveDelay * 2, 60000);
  // Any authorised call refreshes an expired token on the way (and signs out a revoked one).
  const ok = await app.check();
  if (stream === live && app.signedIn()) ok ? open() : reopen(stream);
}

export function closeLive() {
  if (live) live.close();
  live = null;
}
