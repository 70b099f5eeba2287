// What the dispatch board reads: a day's jobs of the branch (every page of them), the
// branch's field staff (names on the cards, people for the crew picker), the open alerts,
// the customers a new job can be for (found by name), and one job's detail. Details are
// kept by version, so a redraw fetches again only the ones that changed.
import { api } from "./page.js";

/** @typedef {{ id: string, name: string, phone: string, teamId: string | null, active: boolean }} Person */
/**
 * A job as the feed lists it.
 * @typedef {{ id: string, customerName: string, serviceType: string, status: string,
 *   address: string, scheduledDate: string, assigneeId: string | null, assigneeIds?: string[],
 *   priority: string, version: number }} Job
 */
/**
 * @typedef {{ id: string, kind: string, jobId: string | null, raisedAt: string,
 *   detail: Record<string, unknown> | string | null, acknowledgedAt: string | null,
 *   urgent?: boolean }} Alert
 */
/** @typedef {{ id: string, name: string, address?: string }} Customer */
/**
 * @typedef {{ job: any, crew?: any[], problems?: any[], remarks?: any[], checklistItems?: any[],
 *   photos?: any[] }} Detail
 */

const PAGE = 200;
const MOST_PAGES = 10; // 2,000 jobs: more than any branch has in a day

/** The day ``days`` after ``day`` (YYYY-MM-DD). @param {string} day @param {number} days */
export const addDays = (day, days) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + days * 864e5).toISOString().slice(0, 10);

/** Today in Bangkok, where the branches work. */
export const today = () => new Date(Date.now() + 7 * 3600e3).toISOString().slice(0, 10);

/** The crew of a job, lead first (a server without crews gives only the lead). @param {Job} job */
export const crewOf = (job) => job.assigneeIds ?? (job.assigneeId ? [job.assigneeId] : []);

/** The jobs scheduled on ``day`` (Bangkok), or null when the server would not say. @param {string} day */
export async function jobsOn(day) {
  const first = `/api/mobile/jobs?from=${day}&to=${addDays(day, 1)}&limit=${PAGE}`;
  /** @type {Job[]} */
  const jobs = [];
  let path = first;
  for (let page = 0; page < MOST_PAGES; page++) {
    const response = await api(path);
    if (!response.ok) return null;
    const { jobs: more, hasMore, nextCursor } = await response.json();
    jobs.push(...more);
    if (!hasMore || !nextCursor) break;
    path = `${first}&cursor=${encodeURIComponent(nextCursor)}`;
  }
  return jobs;
}

/** @type {Map<string, Person>} */
let people = new Map();

/**
 * The branch's field staff by id, fetched again when ``ids`` names someone not known yet
 * (or when ``again``: a crew is being picked, and the office may have taken someone on).
 * @param {string[]} ids @param {boolean} [again]
 */
export async function staffFor(ids, again = false) {
  if (again || !people.size || ids.some((id) => !people.has(id))) {
    const response = await api("/api/dispatch/staff");
    /** @type {{ staff: Person[] }} */
    const { staff } = response.ok ? await response.json() : { staff: [] };
    people = new Map(staff.map((person) => [person.id, person]));
  }
  return people;
}

/** @returns {Promise<Alert[]>} */
export async function openAlerts() {
  const response = await api("/api/dispatch/alerts?state=open");
  return response.ok ? (await response.json()).alerts : [];
}

/** The branch's customers whose name holds ``part``, by name (the first 20). @param {string} part @returns {Promise<Customer[]>} */
export async function customersNamed(part) {
  const response = await api(`/api/dispatch/customers?q=${encodeURIComponent(part)}&limit=20`).catch(() => null);
  return response?.ok ? (await response.json()).customers : [];
}

/** @type {Map<string, { version: number, detail: Detail }>} */
const details = new Map();

/**
 * A job's detail (its crew, problems and remarks), or null when it cannot be read; fetched
 * again only when ``version`` is newer than the kept one's (or not given).
 * @param {string} id @param {number} [version]
 * @returns {Promise<Detail | null>}
 */
export async function detailOf(id, version) {
  const kept = details.get(id);
  if (kept && version !== undefined && kept.version >= version) return kept.detail;
  const response = await api(`/api/mobile/jobs/${id}`);
  if (!response.ok) return null;
  /** @type {Detail} */
  const detail = await response.json();
  details.set(id, { version: detail.job.version, detail });
  return detail;
}

/**
 * Send a dispatcher's change; the answer's problem (its detail and field errors) when refused.
 * @param {string} path @param {string} method @param {Record<string, unknown>} body
 * @returns {Promise<{ ok: boolean, body: any }>}
 */
export async function send(path, method, body) {
  try {
    const response = await api(path, { method, body: JSON.stringify(body) });
    return { ok: response.ok, body: await response.json().catch(() => ({})) };
  } catch {
    return { ok: false, body: { detail: null } }; // no connection
  }
}
