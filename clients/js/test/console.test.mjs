// The admin console (`/admin/`, issue 16) in headless Debian Chromium against
// a real `holdfast serve`: the first administrator made by `holdfast admin
// bootstrap` signs in through the administration tenant's hosted login (the
// console is a DPoP-bound SPA on the browser SDK), creates a client, edits
// its grace window (checked through the CLI, another process reading the
// database), and revokes a demo user's session, whose refresh in the demo
// app then fails (RFC 6749 §6 / RFC 7009: a revoked family is
// `invalid_grant`). The audit log names the administrator as the actor.
// Settings made there (branding, sign-in limits, an invitation) reach the
// server, as the CLI then reads them. `holdfast --server URL login` (the
// device grant, RFC 8628) is approved on a phone-sized screen through the
// hosted login, and the CLI's later remote commands use the kept token.
// Screenshots (laptop and phone sizes) go to test/artifacts/.

import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { PASSWORD, World, artifacts } from "./harness.mjs";

/** @type {World} */
let world;
const consoleLog = createWriteStream(path.join(artifacts, "logs", "console-console.log"), { flags: "w" });
const TIMEOUT = 90_000;

before(async () => {
  world = await World.start();
  await world.cli(["admin", "bootstrap", "--username", "root", "--password-stdin"], `${PASSWORD}\n`);
});

after(async () => {
  await world?.stop();
  consoleLog.end();
});

function logged(page, label) {
  page.on("console", (m) => consoleLog.write(`[${label}] ${m.type()}: ${m.text()}\n`));
  page.on("pageerror", (e) => consoleLog.write(`[${label}] pageerror: ${e.message}\n`));
  return page;
}

/** Opens the console in a new context and signs in as `root`. */
async function signedInConsole(viewport) {
  const context = await world.newContext(viewport ? { viewport } : {});
  const page = logged(await context.newPage(), "console");
  await page.goto(`${world.base}/admin`);
  await page.waitForSelector("body[data-ready=true]");
  await page.waitForSelector("#signed-out:not([hidden])");
  await page.click("#sign-in");
  await page.waitForURL((u) => u.href.startsWith(`${world.base}/t/admin/authorize`));
  await page.fill("input[name=username]", "root");
  await page.fill("input[name=password]", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL((u) => u.href.startsWith(`${world.base}/admin/`));
  await page.waitForSelector("#app:not([hidden])");
  return { context, page };
}

async function statusOf(page, pattern) {
  try {
    await page.waitForFunction(
      (source) => new RegExp(source).test(document.getElementById("status").textContent),
      pattern.source,
    );
  } catch (e) {
    throw new Error(`the console says "${await page.textContent("#status")}", not ${pattern}`, { cause: e });
  }
  return page.textContent("#status");
}

describe("admin console", () => {
  test("an administrator signs in, creates a client, edits its grace window and revokes a session whose refresh then fails", { timeout: TIMEOUT }, async () => {
    // A demo user, signed in on the demo app (another device).
    const username = await world.newUser("managed");
    const device = await world.newContext();
    const app = logged(await device.newPage(), "demo");
    await app.goto(world.spa);
    await app.waitForSelector("body[data-ready=true]");
    await app.fill("#username", username);
    await app.fill("#password", PASSWORD);
    await app.click("#sign-in-password");
    await app.waitForSelector("#signed-in:not([hidden])");
    const sid = await app.evaluate(() => window.holdfast.getSession().sid);

    const { context, page } = await signedInConsole();
    assert.match(await page.textContent("#whoami"), /user:root · whole server/);
    assert.equal(await page.inputValue("#tenant"), "demo");
    // The console's tokens are DPoP-bound (RFC 9449).
    assert.equal(await page.evaluate(() => window.holdfast.getSession().tokenType), "DPoP");

    // Create a client.
    await page.waitForSelector("#new-client");
    await page.fill("#new-client input[name=client_id]", "made-in-console");
    await page.fill("#new-client input[name=redirect_uri]", "https://app.example.com/callback");
    await page.click("#new-client button[type=submit]");
    await page.waitForSelector("#client-detail[data-client-id=made-in-console]");

    // Edit its grace window.
    await page.fill("#client-form-grace_window", "17");
    await page.click("#client-form button[type=submit]");
    await statusOf(page, /Saved made-in-console/);
    const shown = JSON.parse(await world.cli(["--json", "client", "show", "--tenant", "demo", "--client-id", "made-in-console"]));
    assert.equal(shown.grace_window, 17);
    assert.deepEqual(shown.redirect_uris, ["https://app.example.com/callback"]);
    await page.screenshot({ path: path.join(artifacts, "console-client.png"), fullPage: true });

    // Revoke the demo user's session.
    await page.click("nav [data-view=users]");
    await page.fill("#user-search input[name=q]", username);
    await page.click("#user-search button[type=submit]");
    await page.click(`tr[data-username="${username}"] button.open`);
    await page.waitForSelector(`#user-detail tr[data-sid="${sid}"]`);
    await page.screenshot({ path: path.join(artifacts, "console-user.png"), fullPage: true });
    await page.click(`#user-detail tr[data-sid="${sid}"] button.revoke`);
    await statusOf(page, /Session revoked/);
    await page.waitForSelector(`#user-detail tr[data-sid="${sid}"]`, { state: "detached" });

    // The device's next refresh is refused: the session has ended.
    const outcome = await app.evaluate(() => window.holdfast.refresh().then(() => "refreshed", (e) => e.name));
    assert.equal(outcome, "LoginRequiredError");

    // The audit log names who did it.
    const revoked = (await world.events(sid)).filter((e) => e.kind === "revocation" && e.reason === "revoked_by_admin");
    assert.equal(revoked.length, 1, JSON.stringify(revoked));
    assert.equal(revoked[0].actor, "user:root");

    await context.close();
    await device.close();
  });

  test("on a phone-sized screen the console shows the audit log with its filters", { timeout: TIMEOUT }, async () => {
    const { context, page } = await signedInConsole({ width: 390, height: 844 });
    await page.click("nav [data-view=events]");
    await page.fill("#event-filters input[name=kind]", "client_admin");
    await page.click("#event-filters button[type=submit]");
    // The filtered page replaces the first.
    await page.waitForFunction(() => {
      const kinds = [...document.querySelectorAll("#view tbody tr td:nth-child(2)")].map((c) => c.textContent);
      return kinds.length > 0 && kinds.every((k) => k === "client_admin");
    });
    const kinds = await page.$$eval("#view tbody tr td:nth-child(2)", (cells) => cells.map((c) => c.textContent));
    assert.ok(kinds.length > 0 && kinds.every((k) => k === "client_admin"), kinds.join(","));
    // Nothing wider than the screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    await page.screenshot({ path: path.join(artifacts, "console-phone.png"), fullPage: true });
    await context.close();
  });

  test("branding set in the console shows on the tenant's hosted pages", { timeout: TIMEOUT }, async () => {
    const { context, page } = await signedInConsole();
    await page.click("nav [data-view=settings]");
    await page.waitForSelector("#settings-form-accent_color");
    await page.fill("#settings-form-accent_color", "#0F766E");
    await page.fill("#settings-form-support_url", "mailto:help@example.com");
    await page.click("#settings-form button[type=submit]");
    await statusOf(page, /Settings saved/);
    assert.equal(await page.inputValue("#settings-form-accent_color"), "#0f766e", "stored normalised");
    // A person landing on the tenant's sign-in page sees its colour and
    // its support link at once (the server that made the change forgets
    // its cached copy of the tenant).
    const visitor = await world.newContext();
    const hosted = logged(await visitor.newPage(), "hosted");
    await hosted.goto(`${world.base}/t/demo/account`);
    const accent = await hosted.$eval("button[type=submit]", (b) => getComputedStyle(b).backgroundColor);
    assert.equal(accent, "rgb(15, 118, 110)");
    assert.equal(await hosted.getAttribute("footer.support a", "href"), "mailto:help@example.com");
    await hosted.screenshot({ path: path.join(artifacts, "hosted-branded.png"), fullPage: true });
    await visitor.close();
    await context.close();
  });

  test("sign-in limits and an invitation made in the console reach the server", { timeout: TIMEOUT }, async () => {
    const { context, page } = await signedInConsole();
    await page.click("nav [data-view=settings]");
    await page.waitForSelector("#throttle-form-pair_max_failures");
    assert.match(await page.textContent("#throttle-source"), /server's limits/);
    await page.fill("#throttle-form-pair_max_failures", "4");
    await page.click("#throttle-form button[type=submit]");
    await statusOf(page, /Sign-in limits saved/);
    assert.match(await page.textContent("#throttle-source"), /own limits/);
    const limits = JSON.parse(await world.cli(["--json", "tenant", "throttle", "demo"]));
    assert.equal(limits.pair_max_failures, 4);
    // Beyond OWASP ASVS 2.2.1: the server's refusal is shown, nothing changes.
    await page.fill("#throttle-form-account_max_failures", "1000");
    await page.click("#throttle-form button[type=submit]");
    await statusOf(page, /100 failed attempts/);
    await page.screenshot({ path: path.join(artifacts, "console-throttle.png"), fullPage: true });
    await page.click("#throttle-reset");
    await statusOf(page, /server's sign-in limits apply/);
    const reset = JSON.parse(await world.cli(["--json", "tenant", "throttle", "demo"]));
    assert.equal(reset.pair_max_failures, 10);
    assert.equal(reset.account_max_failures, 100);

    await page.click("nav [data-view=users]");
    await page.waitForSelector("#invite-user");
    await page.fill("#invite-user input[name=email]", "ada@example.com");
    await page.fill("#invite-user input[name=name]", "Ada Lovelace");
    await page.click("#invite-user button[type=submit]");
    await statusOf(page, /Invited ada@example.com/);
    await page.waitForSelector('tr[data-username="ada@example.com"]');
    const invited = JSON.parse(await world.cli(["--json", "user", "show", "--tenant", "demo", "--user", "ada@example.com"]));
    assert.equal(invited.email, "ada@example.com");
    await context.close();
  });

  test("holdfast --server URL login is approved on a phone through the hosted login", { timeout: TIMEOUT }, async () => {
    const env = { HOLDFAST_CREDENTIALS: path.join(world.dataDir, "credentials.json") };
    const cli = world.startCli("cli-login", ["--server", world.base, "--json", "login"], env);
    let stdout = "";
    let stderr = "";
    cli.stdout.on("data", (d) => { stdout += d; });
    const exited = new Promise((resolve) => cli.once("exit", resolve));
    const url = await new Promise((resolve, reject) => {
      cli.stderr.on("data", (d) => {
        stderr += d;
        const found = stderr.match(/(http\S+user_code=\S+)/);
        if (found) resolve(found[1]);
      });
      exited.then((code) => reject(new Error(`login exited (${code}) before printing a page: ${stderr}`)));
    });
    const context = await world.newContext({ viewport: { width: 390, height: 844 } });
    const page = logged(await context.newPage(), "device");
    await page.goto(url);
    const code = new URL(url).searchParams.get("user_code");
    assert.equal((await page.textContent("#user-code")).trim(), code);
    assert.match(await page.textContent("main"), /Holdfast command line/);
    await page.screenshot({ path: path.join(artifacts, "device-approve-phone.png"), fullPage: true });
    await page.click("button[value=approve]");
    await page.waitForURL((u) => u.href.startsWith(`${world.base}/t/admin/authorize`));
    await page.fill("input[name=username]", "root");
    await page.fill("input[name=password]", PASSWORD);
    await page.click("button[type=submit]");
    await page.waitForSelector("text=Device signed in");
    await page.screenshot({ path: path.join(artifacts, "device-signed-in-phone.png"), fullPage: true });
    assert.equal(await exited, 0, stderr);
    assert.equal(JSON.parse(stdout).user, "root");
    const tenants = JSON.parse(await world.cli(["--server", world.base, "--json", "tenant", "list"], undefined, env));
    assert.ok(tenants.some((t) => t.slug === "demo"), JSON.stringify(tenants));
    await context.close();
  });
});
