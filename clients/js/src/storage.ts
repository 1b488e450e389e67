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

import type { DpopKeyPair } from "./dpop.js";

/** Name of the IndexedDB database. */
export const DATABASE_NAME = "holdfast";
/** Its schema version. */
export const DATABASE_VERSION = 1;

/** The object stores. */
export type StoreName = "keys" | "sessions" | "pending" | "devices";
const STORES: StoreName[] = ["keys", "sessions", "pending", "devices"];

/** A signed-in session as persisted. */
export interface StoredSession {
  /** `indexeddb`: the refresh token is here; `cookie`: it is in an HttpOnly cookie. */
  mode: "indexeddb" | "cookie";
  /** The refresh token (cookieless mode only). */
  refreshToken?: string;
  /**
   * Changes on every sign-in and every refresh: a tab that finds another
   * version than the one it started from knows another tab has refreshed.
   */
  version: string;
  /** The session id (`sid`) of the family. */
  sid?: string;
  /**
   * The latest ID token (scope `openid`), sent as `id_token_hint` when
   * signing out of the hosted single sign-on session.
   */
  idToken?: string;
  /** When this version was written (ms). */
  updatedAt: number;
}

/** A redirect sign-in waiting for its callback. */
export interface PendingAuthorization {
  /** Namespace of the client that started it. */
  namespace: string;
  codeVerifier: string;
  nonce: string;
  redirectUri: string;
  createdAt: number;
  /** Whatever the app asked to get back after the callback. */
  appState?: unknown;
  /** A step-up's refused request, sent again after the callback. */
  stepUpRequest?: unknown;
}

/** The values stored per object store. */
export interface StoreValues {
  keys: DpopKeyPair;
  sessions: StoredSession;
  pending: PendingAuthorization;
  devices: string;
}

/** Minimal key-value access to the object stores. */
export interface Storage {
  get<S extends StoreName>(store: S, key: string): Promise<StoreValues[S] | undefined>;
  put<S extends StoreName>(store: S, key: string, value: StoreValues[S]): Promise<void>;
  /** Writes only if absent; `false` if a value was already there. */
  add<S extends StoreName>(store: S, key: string, value: StoreValues[S]): Promise<boolean>;
  delete(store: StoreName, key: string): Promise<void>;
  /** Reads and deletes in one transaction. */
  take<S extends StoreName>(store: S, key: string): Promise<StoreValues[S] | undefined>;
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error("IndexedDB request failed"));
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction failed"));
  });
}

/** IndexedDB-backed storage. */
class IndexedDbStorage implements Storage {
  #db: Promise<IDBDatabase> | undefined;

  #open(): Promise<IDBDatabase> {
    this.#db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const open = indexedDB.open(DATABASE_NAME, DATABASE_VERSION);
      open.onupgradeneeded = () => {
        for (const name of STORES) {
          if (!open.result.objectStoreNames.contains(name)) open.result.createObjectStore(name);
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
    }).catch((e: unknown) => {
      this.#db = undefined;
      throw e;
    });
    return this.#db;
  }

  async get<S extends StoreName>(store: S, key: string): Promise<StoreValues[S] | undefined> {
    const db = await this.#open();
    return request(db.transaction(store, "readonly").objectStore(store).get(key)) as Promise<StoreValues[S] | undefined>;
  }

  async put<S extends StoreName>(store: S, key: string, value: StoreValues[S]): Promise<void> {
    const db = await this.#open();
    const tx = db.transaction(store, "readwrite");
    tx.objectStore(store).put(value, key);
    await done(tx);
  }

  async add<S extends StoreName>(store: S, key: string, value: StoreValues[S]): Promise<boolean> {
    const db = await this.#open();
    const tx = db.transaction(store, "readwrite");
    const req = tx.objectStore(store).add(value, key);
    // A ConstraintError means another tab wrote first: not a failure.
    req.onerror = (event) => {
      if (req.error?.name === "ConstraintError") event.preventDefault();
    };
    try {
      await done(tx);
      return req.error === null;
    } catch (e) {
      if (req.error?.name === "ConstraintError") return false;
      throw e;
    }
  }

  async delete(store: StoreName, key: string): Promise<void> {
    const db = await this.#open();
    const tx = db.transaction(store, "readwrite");
    tx.objectStore(store).delete(key);
    await done(tx);
  }

  async take<S extends StoreName>(store: S, key: string): Promise<StoreValues[S] | undefined> {
    const db = await this.#open();
    const tx = db.transaction(store, "readwrite");
    const os = tx.objectStore(store);
    const value = request(os.get(key));
    os.delete(key);
    const result = await value;
    await done(tx);
    return result as StoreValues[S] | undefined;
  }
}

/** In-memory storage: the fallback, and handy in tests. */
export class MemoryStorage implements Storage {
  #data = new Map<string, unknown>();

  async get<S extends StoreName>(store: S, key: string): Promise<StoreValues[S] | undefined> {
    return this.#data.get(`${store}\u0000${key}`) as StoreValues[S] | undefined;
  }
  async put<S extends StoreName>(store: S, key: string, value: StoreValues[S]): Promise<void> {
    this.#data.set(`${store}\u0000${key}`, value);
  }
  async add<S extends StoreName>(store: S, key: string, value: StoreValues[S]): Promise<boolean> {
    const k = `${store}\u0000${key}`;
    if (this.#data.has(k)) return false;
    this.#data.set(k, value);
    return true;
  }
  async delete(store: StoreName, key: string): Promise<void> {
    this.#data.delete(`${store}\u0000${key}`);
  }
  async take<S extends StoreName>(store: S, key: string): Promise<StoreValues[S] | undefined> {
    const value = await this.get(store, key);
    await this.delete(store, key);
    return value;
  }
}

/**
 * IndexedDB storage, falling back to memory (with a console warning) if
 * IndexedDB is missing or cannot be opened.
 */
export function defaultStorage(): Storage {
  if (typeof indexedDB === "undefined") {
    console.warn("holdfast: IndexedDB is unavailable; the session will not survive a reload");
    return new MemoryStorage();
  }
  const idb = new IndexedDbStorage();
  let fallback: MemoryStorage | undefined;
  const pick = async <T>(op: (s: Storage) => Promise<T>): Promise<T> => {
    if (fallback) return op(fallback);
    try {
      return await op(idb);
    } catch (e) {
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
