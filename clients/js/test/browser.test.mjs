// Real-browser tests of the SDK and the demo SPA (issue 6): headless Debian
// Chromium driven by playwright-core, against a real `holdfast serve`, the
// example resource server and the demo's server, all started fresh by
// harness.mjs. Run with `node --test test/` after building the SDK, or
// through test/run-browser-tests.sh, which does everything.
//
// Each test uses its own user and its own browser contexts, so tests share
// nothing but the servers, and count audit events per session.

import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { PASSWORD, STEP_UP_MAX_AGE, World, artifacts, sleep } from "./harness.mjs";

/** @type {World} */
let world;
const consoleLog = createWriteStream(path.join(artifacts, "logs", "browser-console.log"), { flags: "w" });

before(async () => {
  world = await World.start();
});

after(async () => {
  await world?.stop();
  consoleLog.end();
});

const TIMEOUT = 60_000;

// ------------------------------------------------------------------ helpers

/** Opens the demo in `context` (see World.openDemo). */
const openDemo = (context, label = "page") => world.openDemo(context, label, consoleLog);

/** Signs in through the demo's first-party form. */
async function signInHere(page, username, password = PASSWORD) {
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click("#sign-in-password");
  await page.waitForSelector("#signed-in:not([hidden])");
}

/** A user signed in on a new demo page of a new context. */
async function signedInDemo(prefix) {
  const username = await world.newUser(prefix);
  const context = await world.newContext();
  const page = await openDemo(context, prefix);
  await signInHere(page, username);
  return { username, context, page, sid: await sidOf(page) };
}

async function sidOf(page) {
  return page.evaluate(() => window.holdfast.getSession()?.sid);
}

/** Clicks "Call the API" and returns `{ status, body }`. */
async function callApiFromDemo(page) {
  await page.evaluate(() => {
    delete document.getElementById("api-result").dataset.status;
  });
  await page.click("#call-api");
  await page.waitForSelector("#api-result[data-status]");
  const text = await page.textContent("#api-result");
  const status = Number(await page.getAttribute("#api-result", "data-status"));
  return { status, body: JSON.parse(text.slice(text.indexOf("\n") + 1)) };
}

/** A value from the SDK's IndexedDB (`holdfast` database). */
async function idbGet(page, store, key) {
  return page.evaluate(
    async ([store, key]) => {
      const db = await new Promise((resolve, reject) => {
        const r = indexedDB.open("holdfast");
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      try {
        return await new Promise((resolve, reject) => {
          const r = db.transaction(store).objectStore(store).get(key);
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error);
        });
      } finally {
        db.close();
      }
    },
    [store, key],
  );
}

const ns = (clientId = "spa") => `${world.issuer} ${clientId}`;

/** Waits until a sign-out's round trip through the end-session endpoint is back on the demo. */
async function backFromSignOut(page) {
  await page.waitForSelector("body[data-ready=true][data-returned=signed-out]");
}

/** Signs in through the hosted page of the demo (`#sign-in-hosted`). */
async function hostedSignIn(page, username) {
  await page.click("#sign-in-hosted");
  await page.waitForURL((u) => u.href.startsWith(`${world.issuer}/authorize`));
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL((u) => u.href.startsWith(world.spa));
  await page.waitForSelector("body[data-ready=true]");
  await page.waitForSelector("#signed-in:not([hidden])");
}

/** Where `#sign-in-hosted` lands: `"password form"` or `"signed in"` (single sign-on). */
async function hostedSignInOutcome(page) {
  await page.click("#sign-in-hosted");
  // The hosted page's form (the demo has a password field of its own).
  const found = await page.waitForSelector("form[action$='/login'] input[name=password], #signed-in:not([hidden])");
  return (await found.evaluate((e) => e.id)) === "signed-in" ? "signed in" : "password form";
}

/** The SSO cookie of the tenant, if the context holds one. */
async function ssoCookie(context) {
  return (await context.cookies(`${world.issuer}/authorize`)).find((c) => c.name.includes("holdfast_session"));
}

/** Counts of audit event kinds for `sid`, with zeroes for the ones we check. */
async function counts(sid) {
  return { refresh: 0, refresh_retry: 0, refresh_token_reuse: 0, refresh_dpop_key_mismatch: 0, ...(await world.eventCounts(sid)) };
}

/** A DPoP proof made outside the browser with some other key (Node's WebCrypto). */
async function foreignProof(htm, htu, nonce) {
  const b64u = (buf) => Buffer.from(buf).toString("base64url");
  const { privateKey, publicKey } = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", publicKey);
  const header = b64u(JSON.stringify({ typ: "dpop+jwt", alg: "ES256", jwk: { kty, crv, x, y } }));
  const claims = { jti: crypto.randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000) };
  if (nonce) claims.nonce = nonce;
  const input = `${header}.${b64u(JSON.stringify(claims))}`;
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, Buffer.from(input));
  return `${input}.${b64u(sig)}`;
}

/** Presents `refreshToken` to the token endpoint from Node, optionally with a proof by a foreign key. */
async function refreshFromOutside(refreshToken, { withForeignProof = false } = {}) {
  const url = `${world.issuer}/token`;
  const body = new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: "spa" });
  let nonce;
  for (let i = 0; i < 2; i++) {
    const headers = { "Content-Type": "application/x-www-form-urlencoded" };
    if (withForeignProof) headers.DPoP = await foreignProof("POST", url, nonce);
    const res = await fetch(url, { method: "POST", headers, body });
    const json = await res.json();
    if (json.error === "use_dpop_nonce" && !nonce) {
      nonce = res.headers.get("dpop-nonce");
      continue;
    }
    return { status: res.status, json };
  }
  throw new Error("unreachable");
}

// -------------------------------------------------------------------- tests

describe("browser SDK and demo SPA in Chromium", () => {
  test("the stored DPoP private key cannot be exported and survives a reload", { timeout: TIMEOUT }, async () => {
    const { context, page, username } = await signedInDemo("keyuser");
    const before = await page.evaluate(() => window.holdfast.getKeyInfo());
    assert.equal(before.extractable, false);

    const probe = () =>
      page.evaluate(async (namespace) => {
        const db = await new Promise((resolve, reject) => {
          const r = indexedDB.open("holdfast");
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error);
        });
        const record = await new Promise((resolve, reject) => {
          const r = db.transaction("keys").objectStore("keys").get(namespace);
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error);
        });
        db.close();
        const key = record.privateKey;
        const exports = {};
        for (const format of ["jwk", "pkcs8"]) {
          try {
            await crypto.subtle.exportKey(format, key);
            exports[format] = "exported";
          } catch (e) {
            exports[format] = e.name;
          }
        }
        // Still usable for signing, which is all the page may do with it.
        const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, new TextEncoder().encode("x"));
        return {
          isCryptoKey: key instanceof CryptoKey,
          type: key.type,
          extractable: key.extractable,
          algorithm: key.algorithm,
          exports,
          signatureBytes: sig.byteLength,
          jkt: record.jkt,
        };
      }, ns());

    const first = await probe();
    assert.equal(first.isCryptoKey, true);
    assert.equal(first.type, "private");
    assert.equal(first.extractable, false);
    assert.deepEqual(first.algorithm, { name: "ECDSA", namedCurve: "P-256" });
    assert.deepEqual(first.exports, { jwk: "InvalidAccessError", pkcs8: "InvalidAccessError" });
    assert.equal(first.signatureBytes, 64);
    assert.equal(first.jkt, before.jkt);

    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    await page.waitForSelector("#signed-in:not([hidden])");
    const second = await probe();
    assert.equal(second.jkt, before.jkt, "the same key after a reload");
    assert.deepEqual(second.exports, { jwk: "InvalidAccessError", pkcs8: "InvalidAccessError" });
    assert.equal(await page.textContent("#key-jkt"), before.jkt);
    assert.equal(await page.textContent("#user-name"), username, "still signed in as the same user");

    // Tokens after the reload are still bound to that key.
    const api = await callApiFromDemo(page);
    assert.equal(api.status, 200);
    assert.equal(api.body.scheme, "DPoP");
    assert.equal(api.body.dpop_jkt, before.jkt);
    await context.close();
  });

  test("sign in through the hosted page (code flow, PKCE, dpop_jkt), then call the API with DPoP", { timeout: TIMEOUT }, async () => {
    const username = await world.newUser("hosted");
    const context = await world.newContext();
    const page = await openDemo(context, "hosted");
    const authorizeRequests = [];
    page.on("request", (r) => {
      if (r.url().startsWith(`${world.issuer}/authorize`)) authorizeRequests.push(new URL(r.url()));
    });
    await page.click("#sign-in-hosted");
    await page.waitForURL((u) => u.href.startsWith(`${world.issuer}/authorize`));
    await page.fill("input[name=username]", username);
    await page.fill("input[name=password]", PASSWORD);
    await page.click("button[type=submit]");
    await page.waitForURL((u) => u.href.startsWith(world.spa));
    await page.waitForSelector("body[data-ready=true]");
    await page.waitForSelector("#signed-in:not([hidden])");
    assert.equal(new URL(page.url()).search, "", "the code is removed from the address bar");
    assert.equal(await page.textContent("#user-name"), username);
    assert.equal(await page.textContent("#token-type"), "DPoP");

    const authz = authorizeRequests[0];
    assert.ok(authz, "went through /authorize");
    assert.equal(authz.searchParams.get("code_challenge_method"), "S256");
    assert.match(authz.searchParams.get("code_challenge"), /^[A-Za-z0-9_-]{43}$/);
    const jkt = await page.textContent("#key-jkt");
    assert.equal(authz.searchParams.get("dpop_jkt"), jkt);

    const api = await callApiFromDemo(page);
    assert.equal(api.status, 200);
    assert.equal(api.body.scheme, "DPoP");
    assert.equal(api.body.dpop_jkt, jkt);
    assert.ok((await world.events()).some((e) => e.kind === "login_succeeded"));
    await context.close();
  });

  test("sign in through the first-party API; a wrong password is refused; the API and devices work (screenshot)", { timeout: TIMEOUT }, async () => {
    const username = await world.newUser("firstparty");
    const context = await world.newContext();
    const page = await openDemo(context, "firstparty");
    await page.fill("#username", username);
    await page.fill("#password", "not the password");
    await page.click("#sign-in-password");
    await page.waitForSelector("#status[data-kind=error]");
    assert.equal(await page.isVisible("#signed-out"), true);
    assert.equal(await idbGet(page, "sessions", ns()), undefined);

    await signInHere(page, username);
    assert.equal(await page.textContent("#user-name"), username);
    assert.equal(await page.textContent("#token-type"), "DPoP");
    assert.equal(await page.textContent("#key-extractable"), "false");
    const api = await callApiFromDemo(page);
    assert.equal(api.status, 200);
    assert.equal(api.body.scheme, "DPoP");
    assert.equal(api.body.dpop_jkt, await page.textContent("#key-jkt"));

    await page.click("#list-devices");
    await page.waitForSelector("#devices[data-count='1']");
    assert.equal(await page.locator("#devices tr.current").count(), 1);
    await page.screenshot({ path: path.join(artifacts, "signed-in.png"), fullPage: true });

    // The refresh token lives in IndexedDB, bound to the key; the access
    // token is nowhere in storage.
    const stored = await idbGet(page, "sessions", ns());
    assert.equal(stored.mode, "indexeddb");
    assert.match(stored.refreshToken, /\S{20,}/);
    const at = await page.evaluate(() => window.holdfast.getAccessToken());
    const everywhere = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    assert.ok(!everywhere.includes(at));
    assert.ok(!JSON.stringify(stored).includes(at));
    await context.close();
  });

  test("two tabs refreshing at the same moment: both keep working, one rotation, no reuse", { timeout: TIMEOUT }, async () => {
    const { context, page: a, sid } = await signedInDemo("twotabs");
    const b = await openDemo(context, "twotabs-b");
    await b.waitForSelector("#signed-in:not([hidden])");
    assert.equal(await sidOf(b), sid);
    const before = await counts(sid);

    // "The same moment", made certain: tab A's refresh request is held at
    // the network until tab B's refresh is queued behind A's cross-tab
    // lock; only then does A's request go on.
    let arrived;
    const aSent = new Promise((resolve) => (arrived = resolve));
    let release;
    const held = new Promise((resolve) => (release = resolve));
    await context.route(`${world.issuer}/token`, async (route) => {
      arrived();
      await held;
      await route.continue();
    });
    const refreshA = a.evaluate(() => window.holdfast.refresh());
    await aSent;
    const refreshB = b.evaluate(() => window.holdfast.refresh());
    await b.waitForFunction(async () => (await navigator.locks.query()).pending.length > 0, null, { polling: 20 });
    release();
    await Promise.all([refreshA, refreshB]);
    await context.unroute(`${world.issuer}/token`);

    const afterCounts = await counts(sid);
    assert.equal(afterCounts.refresh - before.refresh, 1, "exactly one rotation");
    assert.equal(afterCounts.refresh_retry - before.refresh_retry, 0);
    assert.equal(afterCounts.refresh_token_reuse, 0);
    const [atA, atB] = await Promise.all([a.evaluate(() => window.holdfast.getAccessToken()), b.evaluate(() => window.holdfast.getAccessToken())]);
    assert.equal(atA, atB, "the tab that waited took the other tab's result");
    assert.equal((await callApiFromDemo(a)).status, 200);
    assert.equal((await callApiFromDemo(b)).status, 200);
    assert.equal(await a.textContent("#lock-mechanism"), "web-locks");
    await context.close();
  });

  test("two tabs whose access tokens expired call the API at once: one refresh between them", { timeout: TIMEOUT }, async () => {
    const username = await world.newUser("expiry");
    const context = await world.newContext();
    const a = await openDemo(context, "expiry-a");
    const b = await openDemo(context, "expiry-b");
    const setup = ([issuer, username, password, signIn]) =>
      import("/sdk/index.js").then(async ({ HoldfastClient }) => {
        window.short = new HoldfastClient({ issuer, clientId: "spa-short" });
        if (signIn) await window.short.signInWithPassword(username, password);
        return (await window.short.getAccessToken()).length > 0;
      });
    assert.equal(await a.evaluate(setup, [world.issuer, username, PASSWORD, true]), true);
    assert.equal(await b.evaluate(setup, [world.issuer, username, PASSWORD, false]), true);
    const sid = await a.evaluate(() => window.short.getSession().sid);
    const before = await counts(sid);
    assert.equal(before.refresh, 0, "the second tab got its token from the first, without a refresh");

    await sleep(3_300); // the access tokens (3 s) have expired
    const call = () => window.short.authFetch("/api/hello").then((r) => r.status);
    const statuses = await Promise.all([a.evaluate(call), b.evaluate(call)]);
    assert.deepEqual(statuses, [200, 200]);
    const afterCounts = await counts(sid);
    assert.equal(afterCounts.refresh - before.refresh, 1, "one rotation for both tabs");
    assert.equal(afterCounts.refresh_token_reuse, 0);
    await context.close();
  });

  test("without the Web Locks API the fallback lock still gives one rotation for two tabs", { timeout: TIMEOUT }, async () => {
    const username = await world.newUser("nolocks");
    const context = await world.newContext();
    await context.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined, configurable: true });
    });
    const a = await openDemo(context, "nolocks-a");
    await signInHere(a, username);
    assert.equal(await a.textContent("#lock-mechanism"), "local-storage");
    const b = await openDemo(context, "nolocks-b");
    await b.waitForSelector("#signed-in:not([hidden])");
    const sid = await sidOf(a);
    const before = await counts(sid);
    await Promise.all([a.evaluate(() => window.holdfast.refresh()), b.evaluate(() => window.holdfast.refresh())]);
    const afterCounts = await counts(sid);
    assert.equal(afterCounts.refresh - before.refresh, 1);
    assert.equal(afterCounts.refresh_token_reuse, 0);
    assert.equal((await callApiFromDemo(a)).status, 200);
    assert.equal((await callApiFromDemo(b)).status, 200);
    await context.close();
  });

  test("a refresh response lost after the server answered: retried with the same token, still signed in, no reuse", { timeout: TIMEOUT }, async () => {
    const { context, page, sid } = await signedInDemo("lost");
    const parent = (await idbGet(page, "sessions", ns())).refreshToken;
    const dropped = [];
    await page.route(`${world.issuer}/token`, async (route) => {
      const req = route.request();
      if (req.method() === "POST" && (req.postData() ?? "").includes("grant_type=refresh_token") && dropped.length === 0) {
        // The server gets the request and rotates; the browser never sees the answer.
        const response = await route.fetch();
        dropped.push({ status: response.status(), body: await response.json() });
        await route.abort("connectionreset");
        return;
      }
      await route.continue();
    });
    const before = await counts(sid);

    await page.evaluate(() => window.holdfast.refresh());

    assert.equal(dropped.length, 1);
    assert.equal(dropped[0].status, 200, "the server did answer the dropped request");
    const child = (await idbGet(page, "sessions", ns())).refreshToken;
    assert.notEqual(child, parent);
    assert.equal(child, dropped[0].body.refresh_token, "the retry got the same child as the lost response");
    const mid = await counts(sid);
    assert.equal(mid.refresh - before.refresh, 1, "one rotation");
    assert.equal(mid.refresh_retry - before.refresh_retry, 1, "one grace-window retry");
    assert.equal(mid.refresh_token_reuse, 0);

    assert.equal((await callApiFromDemo(page)).status, 200);
    assert.equal(await page.isVisible("#signed-in"), true);
    // The child works as the next refresh token (it was not left unusable).
    await page.unroute(`${world.issuer}/token`);
    await page.evaluate(() => window.holdfast.refresh());
    const last = await counts(sid);
    assert.equal(last.refresh - mid.refresh, 1);
    assert.equal(last.refresh_token_reuse, 0);
    await context.close();
  });

  test("a token endpoint 503 and a response later than the timeout: retried with the same token, no reuse", { timeout: TIMEOUT }, async () => {
    const { context, page, sid } = await signedInDemo("flaky");
    await page.evaluate((issuer) =>
      import("/sdk/index.js").then(({ HoldfastClient }) => {
        window.fast = new HoldfastClient({ issuer, clientId: "spa", requestTimeoutMs: 1000 });
        // Takes the demo client's token (same page, same session): no refresh.
        return window.fast.getAccessToken();
      }), world.issuer);
    const isRefresh = (req) => req.method() === "POST" && (req.postData() ?? "").includes("grant_type=refresh_token");

    // 503 once.
    let failed = 0;
    await page.route(`${world.issuer}/token`, async (route) => {
      if (isRefresh(route.request()) && failed++ === 0) {
        await route.fulfill({ status: 503, contentType: "application/json", body: '{"error":"temporarily_unavailable"}' });
      } else {
        await route.continue();
      }
    });
    const before = await counts(sid);
    await page.evaluate(() => window.fast.refresh());
    const mid = await counts(sid);
    assert.ok(failed >= 2, "the 503 was followed by another try");
    assert.equal(mid.refresh - before.refresh, 1);
    await page.unroute(`${world.issuer}/token`);

    // The server answers, but only after the client gave up waiting.
    const late = [];
    await page.route(`${world.issuer}/token`, async (route) => {
      if (isRefresh(route.request()) && late.length === 0) {
        const response = await route.fetch();
        late.push(await response.json());
        await sleep(1_500);
        await route.fulfill({ response }).catch(() => {});
      } else {
        await route.continue();
      }
    });
    await page.evaluate(() => window.fast.refresh());
    assert.equal((await idbGet(page, "sessions", ns())).refreshToken, late[0].refresh_token);
    const last = await counts(sid);
    assert.equal(last.refresh - mid.refresh, 1);
    assert.equal(last.refresh_retry - mid.refresh_retry, 1);
    assert.equal(last.refresh_token_reuse, 0);
    assert.equal((await callApiFromDemo(page)).status, 200);
    await context.close();
  });

  test("offline during a refresh: a transient error, the session is kept and works once back online", { timeout: TIMEOUT }, async () => {
    const { context, page, sid } = await signedInDemo("offline");
    const rt = (await idbGet(page, "sessions", ns())).refreshToken;
    await context.setOffline(true);
    const outcome = await page.evaluate(() =>
      window.holdfast.refresh().then(
        () => "ok",
        (e) => `${e.name}:${e.code}`,
      ),
    );
    assert.equal(outcome, "TransientError:network_error");
    assert.equal(await page.evaluate(() => window.holdfast.isSignedIn()), true);
    assert.equal((await idbGet(page, "sessions", ns())).refreshToken, rt, "the refresh token is kept");
    await context.setOffline(false);
    await page.evaluate(() => window.holdfast.refresh());
    assert.equal((await callApiFromDemo(page)).status, 200);
    assert.equal((await counts(sid)).refresh_token_reuse, 0);
    await context.close();
  });

  test("a refresh token copied out of IndexedDB is refused outside the browser; the browser session still works", { timeout: TIMEOUT }, async () => {
    const { context, page, sid } = await signedInDemo("stolen");
    const stolen = (await idbGet(page, "sessions", ns())).refreshToken;
    assert.ok(stolen);

    const bare = await refreshFromOutside(stolen);
    assert.equal(bare.status, 400);
    assert.equal(bare.json.error, "invalid_grant");
    const foreign = await refreshFromOutside(stolen, { withForeignProof: true });
    assert.equal(foreign.status, 400);
    assert.equal(foreign.json.error, "invalid_grant");

    // The access token is no use outside either.
    const at = await page.evaluate(() => window.holdfast.getAccessToken());
    for (const headers of [{ Authorization: `Bearer ${at}` }, { Authorization: `DPoP ${at}` }]) {
      const res = await fetch(`${world.apiDirect}/api/hello`, { headers });
      assert.equal(res.status, 401);
    }

    const kinds = await counts(sid);
    assert.ok(kinds.refresh_dpop_key_mismatch >= 1);
    assert.equal(kinds.refresh_token_reuse, 0);
    // The family survived: the browser refreshes with the very same token.
    await page.evaluate(() => window.holdfast.refresh());
    assert.notEqual((await idbGet(page, "sessions", ns())).refreshToken, stolen);
    assert.equal((await callApiFromDemo(page)).status, 200);
    assert.equal(await page.isVisible("#signed-in"), true);
    await context.close();
  });

  test("sign out other devices from tab A ends the session of a second browser context", { timeout: TIMEOUT }, async () => {
    const username = await world.newUser("devices");
    const [contextA, contextB, contextC] = [await world.newContext(), await world.newContext(), await world.newContext()];
    const a = await openDemo(contextA, "devices-a");
    const b = await openDemo(contextB, "devices-b");
    const c = await openDemo(contextC, "devices-c");
    for (const page of [a, b, c]) await signInHere(page, username);
    const [sidA, sidB, sidC] = [await sidOf(a), await sidOf(b), await sidOf(c)];
    assert.equal(new Set([sidA, sidB, sidC]).size, 3, "one session per device");

    await a.click("#list-devices");
    await a.waitForSelector("#devices[data-count='3']");

    // One device: the row's own button.
    await a.click(`#devices tr[data-sid="${sidC}"] button.revoke`);
    await a.waitForSelector("#devices[data-count='2']");
    await c.click("#call-api");
    await c.waitForSelector("#signed-out:not([hidden])");
    assert.equal(await c.evaluate(() => window.holdfast.isSignedIn()), false);

    // Every other device.
    await a.click("#revoke-others");
    await a.waitForSelector("#devices[data-count='1']");
    assert.equal(await a.locator("#devices tr.current").count(), 1);
    assert.equal(await a.getAttribute("#devices tr.current", "data-sid"), sidA);

    // B finds out at its next call: signed out, its storage cleared.
    await b.click("#call-api");
    await b.waitForSelector("#signed-out:not([hidden])");
    assert.match(await b.textContent("#status"), /session has ended/);
    assert.equal(await idbGet(b, "sessions", ns()), undefined);
    assert.equal(await idbGet(b, "keys", ns()), undefined);
    const refused = await b.evaluate(() => window.holdfast.refresh().then(() => "ok", (e) => e.code));
    assert.equal(refused, "login_required");
    // Its refresh token is dead on the server too (it was revoked, not just forgotten).
    const live = JSON.parse(await world.cli(["--json", "session", "list", "--tenant", "demo", "--user", username]));
    assert.deepEqual(live.map((s) => s.sid), [sidA]);
    const revocations = (await world.events()).filter((e) => e.kind === "revocation" && e.reason === "signed_out_other_devices");
    assert.equal(revocations.length >= 1, true);

    // A is unaffected.
    assert.equal((await callApiFromDemo(a)).status, 200);
    for (const context of [contextA, contextB, contextC]) await context.close();
  });

  test("sign out revokes the session, clears key and tokens, and signs out the other tabs", { timeout: TIMEOUT }, async () => {
    const { context, page, sid, username } = await signedInDemo("signout");
    const other = await openDemo(context, "signout-other");
    await other.waitForSelector("#signed-in:not([hidden])");
    const rt = (await idbGet(page, "sessions", ns())).refreshToken;

    await page.click("#sign-out");
    // The SDK also ends the hosted session (RP-initiated logout) and comes back.
    await backFromSignOut(page);
    await page.waitForSelector("#signed-out:not([hidden])");
    await other.waitForSelector("#signed-out:not([hidden])");
    assert.equal(await idbGet(page, "sessions", ns()), undefined);
    assert.equal(await idbGet(page, "keys", ns()), undefined);
    assert.equal(await page.evaluate(() => window.holdfast.getSession()), undefined);

    const live = JSON.parse(await world.cli(["--json", "session", "list", "--tenant", "demo", "--user", username]));
    assert.equal(live.some((s) => s.sid === sid), false, "the server ended the session");
    const replay = await refreshFromOutside(rt);
    assert.equal(replay.json.error, "invalid_grant");

    // Signing in again makes a new key.
    await signInHere(page, username);
    assert.equal((await callApiFromDemo(page)).status, 200);
    await context.close();
  });

  test("sign out ends the hosted single sign-on too: signing in again asks for the password", { timeout: TIMEOUT }, async () => {
    const username = await world.newUser("sso-out");
    const context = await world.newContext();
    const page = await openDemo(context, "sso-out");
    await hostedSignIn(page, username);
    const sid = await sidOf(page);
    assert.ok(await ssoCookie(context), "the hosted sign-in left an SSO cookie");

    const endSession = [];
    page.on("response", (r) => {
      if (r.url().startsWith(`${world.issuer}/end-session`)) endSession.push({ url: new URL(r.url()), status: r.status() });
    });
    await page.click("#sign-out");
    await backFromSignOut(page);
    await page.waitForSelector("#signed-out:not([hidden])");
    // RP-initiated logout with the ID token from this browser: no prompt.
    assert.equal(endSession.length, 1, JSON.stringify(endSession));
    assert.equal(endSession[0].status, 303, "signed out without a confirmation page");
    assert.ok(endSession[0].url.searchParams.get("id_token_hint"), "sent id_token_hint");
    assert.equal(endSession[0].url.searchParams.get("post_logout_redirect_uri"), `${world.spa}/callback`);
    assert.equal(endSession[0].url.searchParams.get("state"), "signed-out");
    assert.equal(await ssoCookie(context), undefined, "the SSO cookie is gone");
    const live = JSON.parse(await world.cli(["--json", "session", "list", "--tenant", "demo", "--user", username]));
    assert.equal(live.some((s) => s.sid === sid), false, "the app's session ended");

    // The next sign-in must not skip the password (a shared computer).
    assert.equal(await hostedSignInOutcome(page), "password form");
    await page.fill("input[name=username]", username);
    await page.fill("input[name=password]", PASSWORD);
    await page.click("button[type=submit]");
    await page.waitForURL((u) => u.href.startsWith(world.spa));
    await page.waitForSelector("#signed-in:not([hidden])");
    await context.close();
  });

  test("signOut({ keepSso: true }) ends only the app's session: the next hosted sign-in skips the password", { timeout: TIMEOUT }, async () => {
    const username = await world.newUser("sso-keep");
    const context = await world.newContext();
    const page = await openDemo(context, "sso-keep");
    await hostedSignIn(page, username);
    const sid = await sidOf(page);
    const result = await page.evaluate(() => window.holdfast.signOut({ keepSso: true }));
    assert.deepEqual(result, { remote: true });
    await page.waitForSelector("#signed-out:not([hidden])");
    assert.ok(await ssoCookie(context), "the SSO cookie stays");
    const live = JSON.parse(await world.cli(["--json", "session", "list", "--tenant", "demo", "--user", username]));
    assert.equal(live.some((s) => s.sid === sid), false, "the app's session ended");
    assert.equal(await hostedSignInOutcome(page), "signed in");
    assert.notEqual(await sidOf(page), sid, "a new session from single sign-on");
    await context.close();
  });

  test("end-session without an ID token asks to confirm; confirming signs out of the hosted session", { timeout: TIMEOUT }, async () => {
    const username = await world.newUser("confirm");
    const context = await world.newContext();
    const page = await openDemo(context, "confirm");
    await hostedSignIn(page, username);
    // Someone else's link (or a bare visit) to the end-session endpoint.
    await page.goto(`${world.issuer}/end-session`);
    await page.waitForSelector("form[action$='/end-session/confirm'] button[type=submit]");
    assert.ok(await ssoCookie(context), "nothing ended before the user confirms");
    // The real browser's form post passes the Origin / Sec-Fetch-Site checks.
    await page.click("button[type=submit]");
    await page.waitForSelector("text=You are signed out.");
    assert.equal(await ssoCookie(context), undefined);
    // The app's own session was not ended (no ID token named it): end it here only.
    await page.goto(world.spa);
    await page.waitForSelector("body[data-ready=true]");
    await page.evaluate(() => window.holdfast.signOut({ keepSso: true }));
    await page.waitForSelector("#signed-out:not([hidden])");
    assert.equal(await hostedSignInOutcome(page), "password form");
    await context.close();
  });

  test("authFetch: one refresh on 401 invalid_token, one retry on use_dpop_nonce, step-up surfaced", { timeout: TIMEOUT }, async () => {
    const { context, page, sid } = await signedInDemo("authfetch");

    // 401 invalid_token once (as for an expired token): refresh, retry.
    let rejected = 0;
    await page.route("**/api/hello", async (route) => {
      if (rejected++ === 0) {
        await route.fulfill({
          status: 401,
          headers: { "WWW-Authenticate": 'DPoP error="invalid_token", error_description="expired"' },
          body: "",
        });
      } else {
        await route.continue();
      }
    });
    const before = await counts(sid);
    assert.equal(await page.evaluate(() => window.holdfast.authFetch("/api/hello").then((r) => r.status)), 200);
    assert.equal((await counts(sid)).refresh - before.refresh, 1);
    await page.unroute("**/api/hello");

    // Always 401: exactly one refresh, then the 401 is handed back.
    await page.route("**/api/hello", (route) =>
      route.fulfill({ status: 401, headers: { "WWW-Authenticate": 'DPoP error="invalid_token"' }, body: "" }),
    );
    const mid = await counts(sid);
    assert.equal(await page.evaluate(() => window.holdfast.authFetch("/api/hello").then((r) => r.status)), 401);
    assert.equal((await counts(sid)).refresh - mid.refresh, 1);
    await page.unroute("**/api/hello");

    // A resource server nonce (RFC 9449 §9): retried once, the proof carries it.
    const proofs = [];
    await page.route((url) => url.pathname === "/api/nonce-demo", async (route) => {
      const proof = route.request().headers().dpop;
      proofs.push(JSON.parse(Buffer.from(proof.split(".")[1], "base64url").toString()));
      if (proofs.length === 1) {
        await route.fulfill({ status: 401, headers: { "WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "n-123" }, body: "" });
      } else {
        await route.fulfill({ status: 200, contentType: "application/json", body: "{}" });
      }
    });
    assert.equal(await page.evaluate(() => window.holdfast.authFetch("/api/nonce-demo?x=1").then((r) => r.status)), 200);
    assert.equal(proofs.length, 2);
    assert.equal(proofs[0].nonce, undefined);
    assert.equal(proofs[1].nonce, "n-123");
    assert.equal(proofs[1].htm, "GET");
    assert.equal(proofs[1].htu, `${world.spa}/api/nonce-demo`);
    assert.match(proofs[1].ath, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(proofs[0].jti, proofs[1].jti);

    // Step-up (RFC 9470) from the real API once the login is older than its limit.
    await sleep((STEP_UP_MAX_AGE + 1.2) * 1000);
    const stepUp = await page.evaluate(() =>
      window.holdfast.authFetch("/api/sensitive").then(
        (r) => ({ status: r.status }),
        (e) => ({ name: e.name, code: e.code, maxAge: e.maxAge, status: e.status }),
      ),
    );
    assert.deepEqual(stepUp, { name: "StepUpRequiredError", code: "insufficient_user_authentication", maxAge: STEP_UP_MAX_AGE, status: 401 });
    await context.close();
  });

  test("cookie mode: no refresh token in JavaScript storage, and refresh works after a reload", { timeout: TIMEOUT }, async () => {
    const username = await world.newUser("cookie");
    const context = await world.newContext();
    const page = await openDemo(context, "cookie");
    const make = (issuer) =>
      import("/sdk/index.js").then(({ HoldfastClient }) => {
        window.cookieClient = new HoldfastClient({ issuer, clientId: "spa-cookie", refreshTokenStorage: "cookie" });
      });
    await page.evaluate(make, world.issuer);
    await page.evaluate(([u, p]) => window.cookieClient.signInWithPassword(u, p), [username, PASSWORD]);
    const stored = await idbGet(page, "sessions", ns("spa-cookie"));
    assert.equal(stored.mode, "cookie");
    assert.equal(stored.refreshToken, undefined);
    const cookies = await context.cookies(`${world.issuer}/token`);
    const rtCookie = cookies.find((c) => c.name.startsWith("hfrt-"));
    assert.ok(rtCookie, "the refresh token is in a cookie");
    assert.equal(rtCookie.httpOnly, true);
    assert.equal(await page.evaluate(() => document.cookie.includes("hfrt-")), false);

    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    await page.evaluate(make, world.issuer);
    const status = await page.evaluate(() => window.cookieClient.authFetch("/api/hello").then((r) => r.status));
    assert.equal(status, 200);
    const sid = await page.evaluate(() => window.cookieClient.getSession().sid);
    assert.equal((await counts(sid)).refresh, 1);
    await page.evaluate(() => window.cookieClient.signOut({ keepSso: true }));
    assert.equal(await idbGet(page, "sessions", ns("spa-cookie")), undefined);
    await context.close();
  });

  test("a lost key ends the session locally; signing in with newKey makes another key", { timeout: TIMEOUT }, async () => {
    const { context, page, username } = await signedInDemo("newkey");
    const first = await page.evaluate(() => window.holdfast.getKeyInfo());
    await page.evaluate(async (namespace) => {
      const db = await new Promise((resolve) => {
        const r = indexedDB.open("holdfast");
        r.onsuccess = () => resolve(r.result);
      });
      await new Promise((resolve) => {
        const tx = db.transaction("keys", "readwrite");
        tx.objectStore("keys").delete(namespace);
        tx.oncomplete = resolve;
      });
      db.close();
    }, ns());
    const outcome = await page.evaluate(() => window.holdfast.refresh().then(() => "ok", (e) => e.code));
    assert.equal(outcome, "login_required");
    await page.waitForSelector("#signed-out:not([hidden])");

    await page.evaluate(([u, p]) => window.holdfast.signInWithPassword(u, p, { newKey: true }), [username, PASSWORD]);
    const second = await page.evaluate(() => window.holdfast.getKeyInfo());
    assert.notEqual(second.jkt, first.jkt);
    await page.waitForSelector("#signed-in:not([hidden])");
    assert.equal((await callApiFromDemo(page)).status, 200);
    await context.close();
  });

  test("a person landing off the hosted pages sees pages, and the login page names the app (screenshots)", { timeout: TIMEOUT }, async () => {
    await world.cli(["client", "create", "--tenant", "demo", "--client-id", "notes", "--display-name", "Demo Notes",
      "--public", "--redirect-uri", `${world.spa}/callback`]);
    const context = await world.newContext();
    const page = await context.newPage();
    // (path, status, what the page says, screenshot name)
    const landings = [
      ["/", 200, "This is a Holdfast sign-in server", "landing-root"],
      ["/t/demo", 200, "Your account", "landing-tenant"],
      ["/t/nope", 404, "Unknown sign-in service", "landing-unknown-tenant"],
      ["/t/demo/nowhere", 404, "Page not found", "landing-not-found"],
      ["/t/demo/login", 405, "takes a form", "landing-form-endpoint"],
    ];
    for (const [where, status, says, shot] of landings) {
      const response = await page.goto(`${world.base}${where}`);
      assert.equal(response.status(), status, where);
      assert.match(response.headers()["content-type"], /^text\/html/, where);
      assert.ok((await page.textContent("main")).includes(says), `${where}: ${await page.textContent("main")}`);
      await page.screenshot({ path: path.join(artifacts, `${shot}.png`) });
    }
    // The tenant's name heads its pages; the tenant root links to the account page.
    await page.goto(`${world.base}/t/demo`);
    assert.equal((await page.textContent("h1")).trim(), "Holdfast demo");
    assert.match(await page.getAttribute("p.links a", "href"), /\/t\/demo\/account$/);
    // The favicon is there.
    const icon = await context.request.get(`${world.base}/favicon.ico`);
    assert.equal(icon.headers()["content-type"], "image/svg+xml");
    // The login page says which app the person signs in to, by its display name.
    const authorize = new URL(`${world.issuer}/authorize`);
    for (const [k, v] of Object.entries({
      response_type: "code", client_id: "notes", redirect_uri: `${world.spa}/callback`, scope: "openid",
      state: "s", code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method: "S256",
    })) authorize.searchParams.set(k, v);
    await page.goto(authorize.href);
    await page.waitForSelector("#username");
    assert.match(await page.textContent("main"), /continue to Demo Notes/);
    await page.screenshot({ path: path.join(artifacts, "login-names-the-app.png") });
    await context.close();
  });
});
