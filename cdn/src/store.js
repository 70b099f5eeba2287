// The vault's IndexedDB, shared by the page and the service worker.
import vocabulary from "./vocabulary.js";

const DB = vocabulary.storage.vault;
/** @type {Record<string, IDBObjectStoreParameters | undefined>} */
const STORES = { outbox: { keyPath: "mutationId" }, notices: { keyPath: "mutationId" },
  meta: undefined, photos: { keyPath: "photoId" }, receipts: { keyPath: "key" } };

// The vault is opened at whatever version it has (a newer build's too, so a build never
// locks itself out), and a store this build has and the vault lacks is added only when it
// is first written: a page still running an older build opens its own version number and
// fails on a higher one, so the version moves only when it must (on a new vault, every
// store is there from version 1). A store read before it exists holds nothing: null.
/**
 * @param {string[]} names
 * @param {IDBTransactionMode} mode
 * @param {number} [version]
 * @returns {Promise<IDBDatabase | null>}
 */
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

/**
 * One transaction over one or more stores; settles in every case (an error rejects). What
 * ``work`` returns is the answer: a request's result once the transaction completes.
 * @param {string | string[]} names
 * @param {IDBTransactionMode} mode
 * @param {(...stores: IDBObjectStore[]) => any} work
 * @returns {Promise<any>}
 */
export async function withStores(names, mode, work) {
  const db = await open([names].flat(), mode);
  if (!db) return null;
  return new Promise((resolve, reject) => {
    /** @type {any} */
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

/** @param {string} name @param {IDBValidKey} key */
export const read = (name, key) => withStores(name, "readonly", (s) => s.get(key));
/** @param {string} name @param {IDBValidKey} key @param {unknown} value */
export const write = (name, key, value) => withStores(name, "readwrite", (s) => s.put(value, key));

/** @param {string} name @param {IDBValidKey} key */
export const remove = (name, key) => withStores(name, "readwrite", (s) => s.delete(key));

/** Delete the whole vault (signing out): open connections close on the version change. */
export function wipeVault() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(DB);
    request.onsuccess = () => resolve(undefined);
    request.onerror = () => reject(request.error);
  });
}

/** This browser's id for the server, made once. @returns {Promise<string>} */
export async function deviceId() {
  let id = await read("meta", "deviceId");
  if (!id) await write("meta", "deviceId", (id = crypto.randomUUID()));
  return id;
}
