/**
 * Persistent state in IndexedDB, one database (`holdfast`) shared by every
 * client of the origin, each record keyed by the namespace
 * `"{issuer} {client_id}"`:
 *
 * | object store | value |
 * |---|---|
 * | `keys` | the DPoP key pair ({@link DpopKeyPair}; `CryptoKey`s are stored as objects, never as bytes) |
 * | `sessions` | {@link StoredSession}: the refresh token (cookieless mode) and a version |
 * | `pending` | a redirect sign-in in progress, keyed by its `state` |
 * | `devices` | the stable `device_id` of this browser |
 *
 * Where IndexedDB cannot be opened (some private modes), the same interface
 * is served from memory: sign-in works but does not survive a reload.
 *
 * @module
 */
/** Name of the IndexedDB database. */
export const DATABASE_NAME = "holdfast";
/** Its schema version. */
export const DATABASE_VERSION = 1;
const STORES = ["keys", "sessions", "pending", "devices"];
function request(req) {
    return new Promise((resolve, reject) => {
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error ?? new Error("IndexedDB request failed"));
    });
}
function done(tx) {
    return new Promise((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
        tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction failed"));
    });
}
/** IndexedDB-backed storage. */
class IndexedDbStorage {
    #db;
    #open() {
        this.#db ??= new Promise((resolve, reject) => {
            const open = indexedDB.open(DATABASE_NAME, DATABASE_VERSION);
            open.onupgradeneeded = () => {
                for (const name of STORES) {
                    if (!open.result.objectStoreNames.contains(name))
                        open.result.createObjectStore(name);
                }
            };
            open.onsuccess = () => {
                const db = open.result;
                // Let a newer schema in another tab upgrade; reopen on next use.
                db.onversionchange = () => {
                    db.close();
                    this.#db = undefined;
                };
                resolve(db);
            };
            open.onerror = () => reject(open.error ?? new Error("cannot open IndexedDB"));
            open.onblocked = () => reject(new Error("IndexedDB upgrade blocked by another tab"));
        }).catch((e) => {
            this.#db = undefined;
            throw e;
        });
        return this.#db;
    }
    async get(store, key) {
        const db = await this.#open();
        return request(db.transaction(store, "readonly").objectStore(store).get(key));
    }
    async put(store, key, value) {
        const db = await this.#open();
        const tx = db.transaction(store, "readwrite");
        tx.objectStore(store).put(value, key);
        await done(tx);
    }
    async add(store, key, value) {
        const db = await this.#open();
        const tx = db.transaction(store, "readwrite");
        const req = tx.objectStore(store).add(value, key);
        // A ConstraintError means another tab wrote first: not a failure.
        req.onerror = (event) => {
            if (req.error?.name === "ConstraintError")
                event.preventDefault();
        };
        try {
            await done(tx);
            return req.error === null;
        }
        catch (e) {
            if (req.error?.name === "ConstraintError")
                return false;
            throw e;
        }
    }
    async delete(store, key) {
        const db = await this.#open();
        const tx = db.transaction(store, "readwrite");
        tx.objectStore(store).delete(key);
        await done(tx);
    }
    async take(store, key) {
        const db = await this.#open();
        const tx = db.transaction(store, "readwrite");
        const os = tx.objectStore(store);
        const value = request(os.get(key));
        os.delete(key);
        const result = await value;
        await done(tx);
        return result;
    }
}
/** In-memory storage: the fallback, and handy in tests. */
export class MemoryStorage {
    #data = new Map();
    async get(store, key) {
        return this.#data.get(`${store}\u0000${key}`);
    }
    async put(store, key, value) {
        this.#data.set(`${store}\u0000${key}`, value);
    }
    async add(store, key, value) {
        const k = `${store}\u0000${key}`;
        if (this.#data.has(k))
            return false;
        this.#data.set(k, value);
        return true;
    }
    async delete(store, key) {
        this.#data.delete(`${store}\u0000${key}`);
    }
    async take(store, key) {
        const value = await this.get(store, key);
        await this.delete(store, key);
        return value;
    }
}
/**
 * IndexedDB storage, falling back to memory (with a console warning) if
 * IndexedDB is missing or cannot be opened.
 */
export function defaultStorage() {
    if (typeof indexedDB === "undefined") {
        console.warn("holdfast: IndexedDB is unavailable; the session will not survive a reload");
        return new MemoryStorage();
    }
    const idb = new IndexedDbStorage();
    let fallback;
    const pick = async (op) => {
        if (fallback)
            return op(fallback);
        try {
            return await op(idb);
        }
        catch (e) {
            if (e instanceof DOMException && (e.name === "InvalidStateError" || e.name === "UnknownError" || e.name === "SecurityError")) {
                console.warn("holdfast: IndexedDB failed; keeping the session in memory only", e);
                fallback = new MemoryStorage();
                return op(fallback);
            }
            throw e;
        }
    };
    return {
        get: (store, key) => pick((s) => s.get(store, key)),
        put: (store, key, value) => pick((s) => s.put(store, key, value)),
        add: (store, key, value) => pick((s) => s.add(store, key, value)),
        delete: (store, key) => pick((s) => s.delete(store, key)),
        take: (store, key) => pick((s) => s.take(store, key)),
    };
}
