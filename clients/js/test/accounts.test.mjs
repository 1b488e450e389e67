// Self-service accounts in a real browser (issue 14): headless Debian
// Chromium against a real `holdfast serve` whose mail goes to a real SMTP
// server on loopback (harness.mjs's MailSink), with the tenant's
// registration open and email verification required. Each test reads the
// mail as it arrived and follows it as a person would:
//
// - sign-up through `prompt=create` → the mailed link → signed in at the app;
// - a forgotten password reset by the mailed link → the old devices' refresh fails;
// - the account page signs out another device (a second browser context)
//   → that device's refresh fails, this one's works;
// - the SDK's first-party account API: signUp → verifyEmail → sign in;
//   changePassword keeps this device and ends the others.

import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { World, artifacts, codeIn, linkIn } from "./harness.mjs";

/** @type {World} */
let world;
const consoleLog = createWriteStream(path.join(artifacts, "logs", "accounts-console.log"), { flags: "w" });

before(async () => {
  world = await World.start({ mail: true });
  await world.cli(["tenant", "update", "demo", "--registration", "open", "--email-verification", "required"]);
});

after(async () => {
  await world?.stop();
  consoleLog.end();
});

const TIMEOUT = 60_000;
const PASSWORD = "lunar kettle nine";
const NEW_PASSWORD = "quiet harbour seven";
let people = 0;
const newAddress = (who) => `${who}${++people}@example.com`;

/** Opens the demo in `context` (see World.openDemo). */
const openDemo = (context, label) => world.openDemo(context, label, consoleLog);

async function signedInAtDemo(page) {
  await page.waitForURL((u) => u.href.startsWith(world.spa));
  await page.waitForSelector("body[data-ready=true]");
  await page.waitForSelector("#signed-in:not([hidden])");
}

/** `holdfast.refresh()` in `page`: `"ok"`, or `"{ErrorName}:{code}"`. */
function refreshOutcome(page) {
  return page.evaluate(() =>
    window.holdfast.refresh().then(
      () => "ok",
      (e) => `${e.name}:${e.code}`,
    ),
  );
}

/**
 * "Create an account" on the demo (prompt=create), the hosted sign-up
 * form, then the mailed link followed in the same browser: signed in at the
 * demo. Returns the demo page.
 */
async function signUpHosted(context, email, name = "Ada Lovelace") {
  const page = await openDemo(context, email);
  await page.click("#sign-up-hosted");
  // The authorization endpoint answers prompt=create with the sign-up form.
  await page.waitForSelector("form[action$='/signup'] #email");
  await page.fill("#email", email);
  await page.fill("#name", name);
  await page.fill("#password", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForSelector("text=We sent a message to");
  const mail = await world.mail.next(email, (m) => m.subject.startsWith("Verify"));
  await page.goto(linkIn(mail, "verify-email"));
  await signedInAtDemo(page);
  return page;
}

/** Signs in on a new demo page of `context` through the hosted login. */
async function hostedSignIn(context, email, password = PASSWORD) {
  const page = await openDemo(context, `${email} (sign-in)`);
  await page.click("#sign-in-hosted");
  await page.waitForURL((u) => u.href.startsWith(`${world.issuer}/authorize`));
  await page.fill("input[name=username]", email);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await signedInAtDemo(page);
  return page;
}

describe("hosted self-service pages", () => {
  test("prompt=create signs up on the hosted page; the mailed link lands signed in at the app", { timeout: TIMEOUT }, async () => {
    const email = newAddress("ada");
    const context = await world.newContext();
    const page = await signUpHosted(context, email);
    assert.equal(await page.textContent("#user-name"), email);
    const me = await page.evaluate(() => window.holdfast.userinfo());
    assert.equal(me.name, "Ada Lovelace");
    const [mail] = world.mail.to(email);
    assert.ok(!mail.text.includes(PASSWORD), "no password in mail");
    // The link works once: opened again, a readable page and no sign-in.
    const again = await context.newPage();
    const answer = await again.goto(linkIn(mail, "verify-email"));
    assert.equal(answer.status(), 400);
    assert.match(await again.textContent("body"), /expired or was already used/);
    await page.screenshot({ path: path.join(artifacts, "signed-up.png") });
    await context.close();
  });

  test("a forgotten password reset by the mailed link signs every other device out", { timeout: TIMEOUT }, async () => {
    const email = newAddress("rae");
    const first = await world.newContext();
    const firstPage = await signUpHosted(first, email);
    const second = await world.newContext();
    const secondPage = await hostedSignIn(second, email);

    // A third browser: "Forgot password?" on the hosted login.
    const third = await world.newContext();
    const page = await openDemo(third, `${email} (reset)`);
    await page.click("#sign-in-hosted");
    await page.waitForURL((u) => u.href.startsWith(`${world.issuer}/authorize`));
    await page.click("a[href*='forgot-password']");
    await page.fill("#identifier", email);
    await page.click("button[type=submit]");
    await page.waitForSelector("text=/If an account matches/");
    const mail = await world.mail.next(email, (m) => m.subject.startsWith("Reset"));
    await page.goto(linkIn(mail, "reset-password"));
    await page.fill("#password", NEW_PASSWORD);
    await page.click("button[type=submit]");
    // The link resumes the sign-in it came from: signed in at the app.
    await signedInAtDemo(page);

    assert.equal(await refreshOutcome(firstPage), "LoginRequiredError:login_required");
    assert.equal(await refreshOutcome(secondPage), "LoginRequiredError:login_required");
    assert.equal(await refreshOutcome(page), "ok");
    const notice = await world.mail.next(email, (m) => /password was changed/i.test(m.subject));
    assert.ok(notice);
    // The old password no longer signs in; the new one does.
    const fourth = await world.newContext();
    const login = await openDemo(fourth, `${email} (old password)`);
    await login.click("#sign-in-hosted");
    await login.waitForURL((u) => u.href.startsWith(`${world.issuer}/authorize`));
    await login.fill("input[name=username]", email);
    await login.fill("input[name=password]", PASSWORD);
    await login.click("button[type=submit]");
    await login.waitForSelector("form[action$='/login'] input[name=password]");
    assert.ok(login.url().startsWith(world.issuer), "still on the hosted login");
    await Promise.all([first.close(), second.close(), third.close(), fourth.close()]);
  });

  test("the account page signs out another device, whose refresh then fails", { timeout: TIMEOUT }, async () => {
    const email = newAddress("mo");
    const mine = await world.newContext();
    const myDemo = await signUpHosted(mine, email);
    const other = await world.newContext();
    const otherDemo = await hostedSignIn(other, email);
    const otherSid = await otherDemo.evaluate(() => window.holdfast.getSession()?.sid);

    const account = await mine.newPage();
    await account.goto(`${world.issuer}/account`);
    await account.waitForSelector("text=My devices");
    assert.equal(await account.locator("li.device").count(), 2);
    assert.equal(await account.locator("li.device.current").count(), 1);
    const row = account.locator(`li.device[data-sid="${otherSid}"]`);
    assert.equal(await row.count(), 1, "the other device is listed by its session");
    await row.locator("button[type=submit]").click();
    await account.waitForSelector("text=That device was signed out.");
    assert.equal(await account.locator("li.device").count(), 1);
    await account.screenshot({ path: path.join(artifacts, "account-page.png") });

    assert.equal(await refreshOutcome(otherDemo), "LoginRequiredError:login_required");
    assert.equal(await refreshOutcome(myDemo), "ok");
    await Promise.all([mine.close(), other.close()]);
  });
});

describe("first-party account API through the SDK", () => {
  test("signUp, verifyEmail with the mailed code, then signInWithPassword", { timeout: TIMEOUT }, async () => {
    const email = newAddress("lin");
    const context = await world.newContext();
    const page = await openDemo(context, email);
    const bad = await page.evaluate(() =>
      window.holdfast.signUp({ email: "not-an-address", password: "lunar kettle nine" }).then(
        () => "accepted",
        (e) => `${e.name}:${e.code}`,
      ),
    );
    assert.equal(bad, "HoldfastError:invalid_request");
    const created = await page.evaluate(
      ([email, password]) => window.holdfast.signUp({ email, password, name: "Lin" }),
      [email, PASSWORD],
    );
    assert.equal(created.status, "verification_required");
    const isVerify = (m) => m.subject.startsWith("Verify");
    const firstMail = await world.mail.next(email, isVerify);
    // Signing in before verifying mails a new code and says so.
    const early = await page.evaluate(
      ([email, password]) =>
        window.holdfast.signInWithPassword(email, password).then(
          () => ({ name: "signed in" }),
          (e) => ({ name: e.name, code: e.code, ticket: e.ticket }),
        ),
      [email, PASSWORD],
    );
    assert.equal(early.name, "EmailVerificationRequiredError");
    assert.equal(early.code, "insufficient_authorization");
    const codeMail = await world.mail.next(email, (m) => isVerify(m) && m !== firstMail);
    const wrong = await page.evaluate(
      (ticket) => window.holdfast.verifyEmail({ ticket, code: "12ab56" }).then(() => "ok", (e) => e.code),
      early.ticket,
    );
    assert.equal(wrong, "invalid_request");
    await page.evaluate(([ticket, code]) => window.holdfast.verifyEmail({ ticket, code }), [early.ticket, codeIn(codeMail)]);
    await page.fill("#username", email);
    await page.fill("#password", PASSWORD);
    await page.click("#sign-in-password");
    await page.waitForSelector("#signed-in:not([hidden])");
    assert.equal((await page.evaluate(() => window.holdfast.userinfo())).name, "Lin");
    await context.close();
  });

  test("changePassword keeps this device signed in and ends the others", { timeout: TIMEOUT }, async () => {
    const email = newAddress("kai");
    const mine = await world.newContext();
    const myDemo = await signUpHosted(mine, email);
    const other = await world.newContext();
    const otherDemo = await hostedSignIn(other, email);
    const wrong = await myDemo.evaluate(
      (next) => window.holdfast.changePassword("not my password", next).then(() => "changed", (e) => e.code),
      NEW_PASSWORD,
    );
    assert.equal(wrong, "invalid_grant");
    assert.equal(await refreshOutcome(otherDemo), "ok", "a refused change ends nothing");
    const before = await myDemo.evaluate(() => window.holdfast.getSession()?.sid);
    await myDemo.evaluate(([current, next]) => window.holdfast.changePassword(current, next), [PASSWORD, NEW_PASSWORD]);
    const after = await myDemo.evaluate(() => window.holdfast.getSession()?.sid);
    assert.ok(after && after !== before, "a new session here");
    assert.equal(await refreshOutcome(myDemo), "ok");
    assert.equal(await refreshOutcome(otherDemo), "LoginRequiredError:login_required");
    await Promise.all([mine.close(), other.close()]);
  });
});
