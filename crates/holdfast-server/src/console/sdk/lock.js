/**
 * A mutual-exclusion lock across the tabs of one origin, so that only one
 * tab at a time presents the refresh token.
 *
 * First choice: the [Web Locks API](https://w3c.github.io/web-locks/)
 * (`navigator.locks.request`), which the browser releases by itself when a
 * tab closes or crashes. Fallback, where it is missing: a lease in
 * `localStorage` (owner id and expiry, renewed while held; written, then
 * read back after a short pause so that of two tabs writing at once only the
 * last writer proceeds), woken by `storage` events. The fallback is not a
 * perfect mutex (storage writes are not atomic across processes), and does
 * not need to be: two tabs presenting the same refresh token inside the
 * server's grace window get the same child token back (DESIGN.md §4), so a
 * lost race costs one extra request, never the session.
 *
 * Calls from one tab are also queued in-tab, so the fallback never sees the
 * same tab twice.
 *
 * @module
 */
const LEASE_MS = 10_000;
const SETTLE_MS = 40;
const POLL_MS = 75;
function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}
function webLocks() {
    const nav = typeof navigator === "undefined" ? undefined : navigator;
    return nav?.locks && typeof nav.locks.request === "function" ? nav.locks : undefined;
}
function localStorageOrUndefined() {
    try {
        const ls = globalThis.localStorage;
        const probe = "holdfast-lock-probe";
        ls.setItem(probe, "1");
        ls.removeItem(probe);
        return ls;
    }
    catch {
        return undefined;
    }
}
/** A named lock shared by every tab of the origin. */
export class CrossTabLock {
    name;
    mechanism;
    #queue = Promise.resolve();
    #owner = crypto.randomUUID();
    constructor(name) {
        this.name = name;
        this.mechanism = webLocks() ? "web-locks" : localStorageOrUndefined() ? "local-storage" : "in-tab";
    }
    /** Runs `fn` while holding the lock; the lock is released when it settles. */
    run(fn) {
        const result = this.#queue.then(() => this.#acquireAndRun(fn), () => this.#acquireAndRun(fn));
        this.#queue = result.catch(() => undefined);
        return result;
    }
    #acquireAndRun(fn) {
        const locks = webLocks();
        if (locks)
            return locks.request(this.name, { mode: "exclusive" }, () => fn());
        const ls = localStorageOrUndefined();
        if (ls)
            return this.#withLease(ls, fn);
        return fn();
    }
    async #withLease(ls, fn) {
        const key = `holdfast-lock:${this.name}`;
        const read = () => {
            try {
                const v = JSON.parse(ls.getItem(key) ?? "null");
                return v && typeof v.owner === "string" && typeof v.expires === "number" ? { owner: v.owner, expires: v.expires } : undefined;
            }
            catch {
                return undefined;
            }
        };
        const write = () => ls.setItem(key, JSON.stringify({ owner: this.#owner, expires: Date.now() + LEASE_MS }));
        let wake;
        const onStorage = (e) => {
            if (e.key === key)
                wake?.();
        };
        addEventListener("storage", onStorage);
        try {
            for (;;) {
                const current = read();
                if (!current || current.expires < Date.now() || current.owner === this.#owner) {
                    write();
                    await sleep(SETTLE_MS + Math.random() * SETTLE_MS);
                    if (read()?.owner === this.#owner)
                        break;
                }
                await new Promise((resolve) => {
                    wake = resolve;
                    setTimeout(resolve, POLL_MS + Math.random() * POLL_MS);
                });
                wake = undefined;
            }
        }
        finally {
            removeEventListener("storage", onStorage);
        }
        const renew = setInterval(() => {
            if (read()?.owner === this.#owner)
                write();
        }, LEASE_MS / 3);
        try {
            return await fn();
        }
        finally {
            clearInterval(renew);
            if (read()?.owner === this.#owner)
                ls.removeItem(key);
        }
    }
}
