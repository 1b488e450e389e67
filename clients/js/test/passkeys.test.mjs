// Passkeys in a real browser (issue 15): headless Debian Chromium with the
// DevTools protocol's virtual authenticator (`WebAuthn` domain: a CTAP2
// platform authenticator with resident keys and user verification)
// against a real `holdfast serve` whose public URL is http://localhost:…
// (WebAuthn has no relying party on an IP address).
//
// - register a passkey on the hosted account page, rename it, sign out,
//   and sign in to the demo with it alone through the login page's
//   autofill (conditional mediation): `acr` "2", `amr` [hwk, user, mfa],
//   kept by a refresh, enough for the critical route; the passkey button
//   signs in too;
// - the same passkey (copied to a second device's authenticator) as the
//   second step after a password: `amr` [pwd, hwk, mfa]; a copy whose
//   signature counter is behind the stored one is refused;
// - refused, each with a clear page and a 400: a tampered
//   clientDataJSON, a replayed answer, the passkey at another tenant, and
//   another user's passkey as the second step.

import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { PASSWORD, World, artifacts } from "./harness.mjs";

/** @type {World} */
let world;
const consoleLog = createWriteStream(path.join(artifacts, "logs", "passkeys-console.log"), { flags: "w" });

before(async () => {
  world = await World.start({ host: "localhost" });
});

after(async () => {
  await world?.stop();
  consoleLog.end();
});

const TIMEOUT = 120_000;

function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
}

/** A virtual platform authenticator on `page` (DevTools `WebAuthn` domain). */
async function authenticatorOn(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    credentials: async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials,
    add: (credential) => cdp.send("WebAuthn.addCredential", { authenticatorId, credential }),
  };
}

async function openDemo(context, label) {
  return world.openDemo(context, label, consoleLog);
}

async function signedInAtDemo(page) {
  await page.waitForURL((u) => u.href.startsWith(world.spa));
  await page.waitForSelector("body[data-ready=true]");
  await page.waitForSelector("#signed-in:not([hidden])");
}

/** Signs in to the hosted account page with the password (a fresh sign-in). */
async function accountPage(page, username) {
  await page.goto(`${world.issuer}/account`);
  await page.fill("#username", username);
  await page.fill("#password", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForSelector("#passkeys-heading");
}

/** Adds a passkey named `name` on the (fresh) account page. */
async function addPasskey(page, name) {
  await page.fill("#passkey-name", name);
  await page.click("#passkey-form button[data-passkey-start]");
  await page.waitForSelector("text=The passkey was added.");
}

async function signOutOfAccountPage(page) {
  await page.click("form[action$='/account/logout'] button");
  await page.waitForSelector("text=You are signed out here.");
}

/** The demo's hosted sign-in, up to the login page. */
async function hostedLogin(page) {
  await page.goto(world.spa);
  await page.waitForSelector("body[data-ready=true]");
  await page.click("#sign-in-hosted");
  await page.waitForSelector("form[action$='/login'] #username");
}

/**
 * A browser context whose pages offer no passkey autofill (conditional
 * mediation reported unavailable, as in a browser without it): the
 * virtual authenticator would otherwise answer the login page's autofill
 * request at once, before a test can use the form.
 */
async function contextWithoutAutofill() {
  const context = await world.newContext();
  await context.addInitScript(() => {
    if (window.PublicKeyCredential) PublicKeyCredential.isConditionalMediationAvailable = async () => false;
  });
  return context;
}

/** Clicks a passkey button; resolves with the response to the form it posts. */
async function usePasskey(page, button = "#passkey-form button[data-passkey-start]") {
  await page.waitForSelector(`${button}:visible`);
  const posted = page.waitForResponse((r) => r.request().isNavigationRequest() && r.request().method() === "POST");
  await page.click(button);
  return posted;
}

describe("passkeys (issue 15)", () => {
  test("a passkey registered on the account page signs in without a password, and as a second step", { timeout: TIMEOUT }, async () => {
    const username = await world.newUser("pk");
    const context = await world.newContext();
    const page = await openDemo(context, "passkey-device");
    const authenticator = await authenticatorOn(page);

    // Register it on the account page (a fresh sign-in), then rename it.
    await accountPage(page, username);
    assert.equal(await page.isVisible("text=None yet."), true);
    await addPasskey(page, "Laptop");
    const [credential] = await authenticator.credentials();
    assert.equal(credential.isResidentCredential, true, "a discoverable credential");
    assert.equal(credential.rpId, "localhost");
    assert.equal(await page.textContent("#passkey-list .passkey-name"), "Laptop");
    await page.fill("#rename-1", "Work laptop");
    await page.click("form[action$='/passkeys/rename'] button");
    await page.waitForSelector("text=The passkey was renamed.");
    assert.equal(await page.textContent("#passkey-list .passkey-name"), "Work laptop");
    const events = await world.events();
    assert.ok(events.some((e) => e.kind === "account" && e.reason === "passkey_added"), "the addition is audited");
    await signOutOfAccountPage(page);

    // Passwordless, by the login page's autofill (conditional mediation):
    // the authenticator offers the passkey as the page opens, and the
    // browser lands back in the demo signed in, no password typed.
    await page.goto(world.spa);
    await page.waitForSelector("body[data-ready=true]");
    await page.click("#sign-in-hosted");
    await signedInAtDemo(page);
    const user = await page.evaluate(() => window.holdfast.getUser());
    assert.equal(user.acr, "2");
    assert.deepEqual(user.amr, ["hwk", "user", "mfa"]);
    assert.ok(Math.abs(user.auth_time - Date.now() / 1000) < 60, "a fresh auth_time");
    assert.ok((await world.events()).some((e) => e.kind === "login_succeeded" && e.reason === "passkey"), "the sign-in is audited");
    await page.evaluate(() => window.holdfast.refresh());
    const refreshed = claimsOf(await page.evaluate(() => window.holdfast.getAccessToken()));
    assert.deepEqual([refreshed.acr, refreshed.amr, refreshed.auth_time], ["2", ["hwk", "user", "mfa"], user.auth_time]);
    // Two factors and recent: the critical route needs no step-up.
    await page.click("#delete-record");
    await page.waitForSelector("#critical-result[data-status]");
    assert.equal(await page.getAttribute("#critical-result", "data-status"), "200");

    // A copy made before those sign-ins (its counter behind the stored
    // one, as a cloned authenticator's would be) is refused (WebAuthn §6.1.1).
    const stale = await contextWithoutAutofill();
    const cloned = await openDemo(stale, "stale-copy");
    await (await authenticatorOn(cloned)).add(credential);
    await hostedLogin(cloned);
    await cloned.fill("#username", username);
    await cloned.fill("#password", PASSWORD);
    await cloned.click("form[action$='/login'] button[type=submit]");
    const refusedClone = await usePasskey(cloned);
    assert.equal(refusedClone.status(), 400);
    await cloned.waitForSelector("text=/That passkey (could not be checked|was refused: it may have been copied)/");
    await stale.close();

    // The same passkey on a second device, as the step after the password:
    // no code form (no authenticator app), only the passkey.
    const second = await contextWithoutAutofill();
    const other = await openDemo(second, "second-device");
    const copy = await authenticatorOn(other);
    // Copied as it is now: with the counter its sign-ins have reached (an
    // older copy's counter would read as a cloned authenticator).
    await copy.add((await authenticator.credentials())[0]);
    await hostedLogin(other);
    await other.fill("#username", username);
    await other.fill("#password", PASSWORD);
    await other.click("form[action$='/login'] button[type=submit]");
    await other.waitForSelector("text=Use one of your passkeys.");
    assert.equal(await other.isVisible("#code"), false);
    await usePasskey(other);
    await signedInAtDemo(other);
    const stepped = await other.evaluate(() => window.holdfast.getUser());
    assert.equal(stepped.acr, "2");
    assert.deepEqual(stepped.amr, ["pwd", "hwk", "mfa"]);
    await second.close();
    await context.close();
  });

  test("a tampered clientDataJSON, a replayed answer, another tenant's and another user's passkey are refused", { timeout: TIMEOUT }, async () => {
    const alice = await world.newUser("alice");
    const bob = await world.newUser("bob");
    const context = await contextWithoutAutofill();
    const page = await openDemo(context, "refusals");
    const authenticator = await authenticatorOn(page);
    await accountPage(page, alice);
    await addPasskey(page, "Alice's key");
    await signOutOfAccountPage(page);
    await accountPage(page, bob);
    await addPasskey(page, "Bob's key");
    await signOutOfAccountPage(page);
    const keys = await authenticator.credentials();
    assert.equal(keys.length, 2);
    // The virtual authenticator names each credential's user (WebAuthn
    // `user.name`); older Chromium builds do not, and then Bob's is the
    // one registered last.
    const bobsKey = keys.find((k) => k.userName === bob) ?? keys[1];
    assert.ok(bobsKey, `bob's credential among ${keys.map((k) => k.userName)}`);

    // Tampered client data: the challenge is changed on the way.
    await hostedLogin(page);
    let captured = null;
    await page.route(`${world.issuer}/login`, async (route) => {
      const form = new URLSearchParams(route.request().postData() ?? "");
      const answer = JSON.parse(form.get("passkey_credential"));
      captured = form.toString();
      const clientData = JSON.parse(Buffer.from(answer.response.clientDataJSON, "base64url").toString());
      clientData.challenge = Buffer.from("not the server's challenge").toString("base64url");
      answer.response.clientDataJSON = Buffer.from(JSON.stringify(clientData)).toString("base64url");
      form.set("passkey_credential", JSON.stringify(answer));
      await route.continue({ postData: form.toString() });
    });
    const tampered = await usePasskey(page);
    assert.deepEqual([tampered.url(), tampered.status()], [`${world.issuer}/login`, 400]);
    await page.waitForSelector("text=That passkey could not be checked.");
    await page.unroute(`${world.issuer}/login`);

    // The untampered answer, sent again: its ceremony was spent.
    // (Sent with the browser's cookies, as the page's own form would be.)
    const replay = await context.request.post(`${world.issuer}/login`, {
      headers: { "content-type": "application/x-www-form-urlencoded", origin: world.base },
      data: captured,
      maxRedirects: 0,
    });
    assert.equal(replay.status(), 400);
    assert.match(await replay.text(), /This passkey request expired/);

    // Another tenant on the same host (the same RP ID): the browser offers
    // the credential, the tenant does not know it.
    await world.cli(["tenant", "create", "elsewhere", "--name", "Elsewhere"]);
    await world.cli(["client", "create", "--tenant", "elsewhere", "--client-id", "spa", "--public",
      "--redirect-uri", `${world.spa}/callback`, "--allowed-origin", world.spa]);
    const authorize = new URL(`${world.base}/t/elsewhere/authorize`);
    authorize.search = new URLSearchParams({
      response_type: "code", client_id: "spa", redirect_uri: `${world.spa}/callback`, scope: "openid",
      state: "s", code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method: "S256",
    }).toString();
    await page.goto(authorize.href);
    const elsewhere = await usePasskey(page);
    assert.deepEqual([elsewhere.url(), elsewhere.status()], [`${world.base}/t/elsewhere/login`, 400]);
    await page.waitForSelector("text=That passkey is not registered for this account here.");

    // Bob's passkey as Alice's second step: the page's challenge, signed
    // with Bob's credential, is refused.
    await hostedLogin(page);
    await page.fill("#username", alice);
    await page.fill("#password", PASSWORD);
    await page.click("form[action$='/login'] button[type=submit]");
    await page.waitForSelector("text=Use one of your passkeys.");
    const posted = page.waitForResponse((r) => r.request().isNavigationRequest() && r.request().method() === "POST");
    await page.evaluate(async (bobsId) => {
      const form = document.querySelector("#passkey-form");
      const options = JSON.parse(form.dataset.options).publicKey;
      const bytes = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
      const b64u = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      const cred = await navigator.credentials.get({
        publicKey: { ...options, challenge: bytes(options.challenge), allowCredentials: [{ type: "public-key", id: bytes(bobsId) }] },
      });
      form.querySelector('[name="passkey_credential"]').value = JSON.stringify({
        id: cred.id, rawId: b64u(cred.rawId), type: cred.type, extensions: {},
        response: {
          authenticatorData: b64u(cred.response.authenticatorData),
          clientDataJSON: b64u(cred.response.clientDataJSON),
          signature: b64u(cred.response.signature),
          userHandle: cred.response.userHandle ? b64u(cred.response.userHandle) : null,
        },
      });
      form.submit();
    }, Buffer.from(bobsKey.credentialId, "base64").toString("base64url"));
    assert.equal((await posted).status(), 400);
    await page.waitForSelector("text=That passkey could not be checked.");
    assert.equal(new URL(page.url()).pathname, "/t/demo/login/second-factor");

    // And the login page's passkey button, untouched, signs in.
    await hostedLogin(page);
    await usePasskey(page);
    await signedInAtDemo(page);
    const user = await page.evaluate(() => window.holdfast.getUser());
    assert.ok([alice, bob].includes(user.preferred_username ?? user.name ?? ""), JSON.stringify(user));
    assert.deepEqual(user.amr, ["hwk", "user", "mfa"]);
    await context.close();
  });
});
