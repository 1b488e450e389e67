// Second factors and step-up in a real browser (issue 15): headless Debian
// Chromium against a real `holdfast serve` and the example API.
//
// - TOTP (RFC 6238) enrolled on the hosted account page, with codes this
//   test computes from the key the page shows (its own HMAC-SHA1, not
//   Holdfast's code);
// - a hosted sign-in with password + TOTP: a wrong code and the
//   enrolment's (spent) code are refused with a clear page first;
// - the example API's critical route answers a one-factor token with an
//   RFC 9470 challenge; the SDK signs in again in a popup (a recovery code)
//   and retries: 200 with `acr` "2", `amr` [pwd, otp, mfa], a fresh
//   `auth_time`, kept by a refresh, in the same browser session;
// - the same by redirect (another recovery code), retried by the SDK after
//   the callback; a spent recovery code is refused.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createWriteStream } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { PASSWORD, World, artifacts } from "./harness.mjs";

/** @type {World} */
let world;
const consoleLog = createWriteStream(path.join(artifacts, "logs", "mfa-console.log"), { flags: "w" });

before(async () => {
  world = await World.start();
});

after(async () => {
  await world?.stop();
  consoleLog.end();
});

const TIMEOUT = 90_000;

/** RFC 4648 base32 (no padding) to bytes. */
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of text.replace(/=+$/, "").toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    bits += v.toString(2).padStart(5, "0");
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** RFC 6238 TOTP (RFC 4226 §5.3 truncation): six digits, 30 s, HMAC-SHA1, for time step `step`. */
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, "0");
}

const stepNow = () => Math.floor(Date.now() / 1000 / 30);

function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
}

const openDemo = (context, label) => world.openDemo(context, label, consoleLog);

async function signedInAtDemo(page) {
  await page.waitForURL((u) => u.href.startsWith(world.spa));
  await page.waitForSelector("body[data-ready=true]");
  await page.waitForSelector("#signed-in:not([hidden])");
}

/** The demo's hosted sign-in up to the password; the page after it. */
async function passwordAtHostedLogin(context, username, label) {
  const page = await openDemo(context, label);
  await page.click("#sign-in-hosted");
  await page.waitForSelector("form[action$='/login'] #username");
  await page.fill("#username", username);
  await page.fill("#password", PASSWORD);
  await page.click("button[type=submit]");
  return page;
}

/** Types `code` into the second-factor page and submits it. */
async function enterCode(page, code) {
  await page.waitForSelector("form[action$='/login/second-factor'] #code");
  await page.fill("#code", code);
  // The next document's load (a popup the SDK closes instead: no load).
  const loaded = page.waitForEvent("load").catch(() => {});
  await page.click("button[type=submit]");
  await loaded;
}

describe("second factors and step-up (issue 15)", () => {
  test("TOTP on the account page, password + TOTP, and RFC 9470 step-up by popup and by redirect", { timeout: TIMEOUT }, async () => {
    const username = await world.newUser("mfa");

    // Two devices signed in with the password only (acr "1"), before any factor.
    const popupContext = await world.newContext();
    const popupPage = await passwordAtHostedLogin(popupContext, username, "popup-device");
    await signedInAtDemo(popupPage);
    const redirectContext = await world.newContext();
    const redirectPage = await passwordAtHostedLogin(redirectContext, username, "redirect-device");
    await signedInAtDemo(redirectPage);
    assert.equal(claimsOf(await popupPage.evaluate(() => window.holdfast.getAccessToken())).acr, "1");

    // The account page: sign in, set up an authenticator app.
    const setup = await world.newContext();
    const account = await setup.newPage();
    await account.goto(`${world.issuer}/account`);
    await account.fill("#username", username);
    await account.fill("#password", PASSWORD);
    await account.click("button[type=submit]");
    await account.waitForSelector("text=Two-step sign-in");
    await account.click("text=Set up an authenticator app");
    await account.waitForSelector("figure.qr svg");
    const secret = (await account.textContent("#totp-secret")).trim();
    const otpauth = await account.getAttribute("#otpauth", "href");
    assert.match(otpauth, /^otpauth:\/\/totp\//);
    assert.equal(new URL(otpauth).searchParams.get("secret"), secret);
    const enrolStep = stepNow();
    await account.fill("#code", totp(secret, enrolStep));
    await account.click("button[type=submit]");
    await account.waitForSelector("text=Your recovery codes");
    const recovery = await account.$$eval("ul.recovery-codes code", (els) => els.map((e) => e.textContent));
    assert.equal(recovery.length, 10);
    await account.click("#continue");
    await account.waitForSelector("text=Two-step sign-in is on.");
    await setup.close();

    // A new device: password, then the code. A wrong one and the spent
    // enrolment code get the page again with what went wrong.
    const third = await world.newContext();
    const page = await passwordAtHostedLogin(third, username, "totp-device");
    await enterCode(page, "000000");
    await page.waitForSelector("text=That code is not right or was used already");
    await enterCode(page, totp(secret, enrolStep));
    await page.waitForSelector("text=That code is not right or was used already");
    // The next step's code (an app whose clock runs a little ahead).
    await enterCode(page, totp(secret, enrolStep + 1));
    await signedInAtDemo(page);
    const user = await page.evaluate(() => window.holdfast.getUser());
    assert.equal(user.acr, "2");
    assert.deepEqual(user.amr, ["pwd", "otp", "mfa"]);
    await third.close();

    // RFC 9470: the critical route refuses the one-factor token; the SDK
    // opens a popup with the challenge's acr_values and max_age.
    const sessionCookie = async (context) =>
      (await context.cookies(world.issuer)).find((c) => c.name.endsWith("holdfast_session"))?.value;
    const ssoBefore = await sessionCookie(popupContext);
    const sidBefore = claimsOf(await popupPage.evaluate(() => window.holdfast.getAccessToken())).sid;
    assert.ok(sidBefore, "the access token names its session");
    assert.ok(ssoBefore, "the device has a hosted session");
    const refused = await popupPage.evaluate(() =>
      window.holdfast.authFetch("/api/records/42", { method: "DELETE" }).then(
        (r) => ({ status: r.status }),
        (e) => ({ name: e.name, acrValues: e.acrValues, maxAge: e.maxAge }),
      ),
    );
    assert.deepEqual(refused, { name: "StepUpRequiredError", acrValues: "2", maxAge: 300 });
    const [popup] = await Promise.all([popupContext.waitForEvent("page"), popupPage.click("#delete-record")]);
    popup.on("console", (m) => consoleLog.write(`[popup] ${m.type()}: ${m.text()}\n`));
    await popup.waitForSelector("text=This needs a recent second step");
    await enterCode(popup, recovery[0]);
    await popupPage.waitForSelector("#critical-result[data-status]");
    assert.equal(await popupPage.getAttribute("#critical-result", "data-status"), "200");
    const deleted = JSON.parse((await popupPage.textContent("#critical-result")).split("\n").slice(1).join("\n"));
    assert.equal(deleted.deleted, "42");
    assert.equal(deleted.acr, "2");
    assert.deepEqual(deleted.amr, ["pwd", "otp", "mfa"]);
    assert.ok(Math.abs(deleted.auth_time - Date.now() / 1000) < 60, "a fresh auth_time");
    // The step-up raised the same hosted session, and a refresh keeps the claims.
    assert.equal(await sessionCookie(popupContext), ssoBefore);
    await popupPage.evaluate(() => window.holdfast.refresh());
    const refreshed = claimsOf(await popupPage.evaluate(() => window.holdfast.getAccessToken()));
    assert.equal(refreshed.acr, "2");
    assert.deepEqual(refreshed.amr, ["pwd", "otp", "mfa"]);
    assert.equal(refreshed.auth_time, deleted.auth_time);
    // ...and the device kept its one session (family): the step-up raised it.
    assert.equal(refreshed.sid, sidBefore);
    await popupContext.close();

    // By redirect: a spent recovery code is refused, another one works, and
    // the SDK sends the refused call again after the callback.
    const redirectSid = claimsOf(await redirectPage.evaluate(() => window.holdfast.getAccessToken())).sid;
    await redirectPage.click("#delete-record-redirect");
    await enterCode(redirectPage, recovery[0]);
    await redirectPage.waitForSelector("text=That code is not right or was used already");
    await enterCode(redirectPage, recovery[1]);
    await signedInAtDemo(redirectPage);
    await redirectPage.waitForSelector("#critical-result[data-status]");
    assert.equal(await redirectPage.getAttribute("#critical-result", "data-status"), "200");
    assert.match(await redirectPage.textContent("#critical-result"), /"acr": "2"/);
    assert.equal(claimsOf(await redirectPage.evaluate(() => window.holdfast.getAccessToken())).sid, redirectSid);
    await redirectContext.close();
  });
});
