// The world the browser tests run in: a fresh Holdfast (its own data
// directory and port), the example resource server, the demo SPA's server,
// and a headless Debian Chromium driven by playwright-core. Everything
// listens on free ports on 127.0.0.1 chosen at start, so runs never collide.
//
// Environment:
//   HOLDFAST_BIN       the holdfast binary  [target/release/holdfast]
//   RS_BIN             the example API      [target/release/holdfast-example-resource-server]
//   CHROMIUM_PATH      the browser          [/usr/bin/chromium]
//   HOLDFAST_TEST_KEEP keep the data directory after the run

import { spawn, execFile } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { simpleParser } from "mailparser";
import { chromium } from "playwright-core";
import { SMTPServer } from "smtp-server";

const execFileP = promisify(execFile);

export const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../../..");
export const artifacts = path.join(here, "artifacts");
mkdirSync(path.join(artifacts, "logs"), { recursive: true });

const HOLDFAST_BIN = process.env.HOLDFAST_BIN ?? path.join(repoRoot, "target/release/holdfast");
const RS_BIN = process.env.RS_BIN ?? path.join(repoRoot, "target/release/holdfast-example-resource-server");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** The password every test user gets. */
export const PASSWORD = "correct horse battery staple";
/** Step-up age the API is started with (seconds), for /api/sensitive. */
export const STEP_UP_MAX_AGE = 2;

// Flags the machine's closed network needs (see the machine notes): no
// background connections to Google services, no QUIC.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
  "--disable-dev-shm-usage",
];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(what, probe, timeoutMs = 30_000, proc) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode} before it was ready (see its log in ${artifacts}/logs)`);
    try {
      if (await probe()) return;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms${last ? `: ${last.message}` : ""}`);
}

/**
 * A real SMTP server on a free loopback port (nodemailer's `smtp-server`)
 * that keeps every message it is given, parsed (`mailparser`), so a test
 * reads the mail Holdfast sent exactly as a person's mail client would.
 */
export class MailSink {
  messages = [];
  #waiters = [];

  static async start() {
    const sink = new MailSink();
    sink.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      onData: (stream, session, callback) => {
        simpleParser(stream).then(
          (parsed) => {
            const message = {
              to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
              subject: parsed.subject ?? "",
              text: parsed.text ?? "",
              html: typeof parsed.html === "string" ? parsed.html : "",
            };
            sink.messages.push(message);
            for (const w of [...sink.#waiters]) w();
            callback();
          },
          (e) => callback(e),
        );
      },
    });
    await new Promise((resolve, reject) => {
      sink.server.once("error", reject);
      sink.server.listen(0, "127.0.0.1", resolve);
    });
    sink.url = `smtp://127.0.0.1:${sink.server.server.address().port}`;
    return sink;
  }

  /**
   * The first message to `address` with `predicate(message)`, waiting for
   * it to arrive (at most `timeoutMs`).
   */
  next(address, predicate = () => true, timeoutMs = 20_000) {
    const find = () => this.messages.find((m) => m.to.includes(address.toLowerCase()) && predicate(m));
    const found = find();
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = () => {
        const m = find();
        if (!m) return;
        done();
        resolve(m);
      };
      const timer = setTimeout(() => {
        done();
        const seen = this.messages.map((m) => `${m.to.join(",")}: ${m.subject}`).join("; ") || "none";
        reject(new Error(`no mail to ${address} within ${timeoutMs} ms (received: ${seen})`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
      };
      this.#waiters.push(waiter);
    });
  }

  /** Every message to `address` so far. */
  to(address) {
    return this.messages.filter((m) => m.to.includes(address.toLowerCase()));
  }

  close() {
    return new Promise((resolve) => this.server.close(resolve));
  }
}

/** The first link in `message` to `…/{page}?token=…`. */
export function linkIn(message, page) {
  const match = message.text.match(new RegExp(`https?://\\S*/${page}\\?token=[A-Za-z0-9_\\-]+`));
  if (!match) throw new Error(`no ${page} link in: ${message.text}`);
  return match[0];
}

/** The six-digit code in `message`. */
export function codeIn(message) {
  const match = message.text.match(/enter this code: (\d{6})/);
  if (!match) throw new Error(`no code in: ${message.text}`);
  return match[1];
}

/** The test environment. Start with {@link World.start}, end with `stop()`. */
export class World {
  processes = [];
  users = 0;

  /**
   * Starts the world. `{ mail: true }` also starts a {@link MailSink}
   * (`world.mail`) and points Holdfast's `--smtp-url` at it; `{ host }`
   * names Holdfast's public URL by that host (e.g. `localhost`) instead of
   * 127.0.0.1.
   */
  static async start(options = {}) {
    const w = new World();
    try {
      if (options.mail) w.mail = await MailSink.start();
      w.host = options.host;
      await w.#start();
    } catch (e) {
      await w.stop();
      throw e;
    }
    return w;
  }

  async #start() {
    await mkdir(path.join(artifacts, "logs"), { recursive: true });
    this.dataDir = await mkdtemp(path.join(os.tmpdir(), "holdfast-browser-"));
    const [hf, rs, spa] = [await freePort(), await freePort(), await freePort()];
    // `{ host: "localhost" }` serves Holdfast under a domain name (its
    // public URL): WebAuthn has no relying party on an IP address.
    this.base = `http://${this.host ?? "127.0.0.1"}:${hf}`;
    this.direct = `http://127.0.0.1:${hf}`;
    this.issuer = `${this.base}/t/demo`;
    this.apiDirect = `http://127.0.0.1:${rs}`;
    this.spa = `http://127.0.0.1:${spa}`;
    this.listen = `127.0.0.1:${hf}`;

    await this.cli(["tenant", "create", "demo", "--name", "Holdfast demo"]);
    const client = (id, ...extra) =>
      this.cli(["client", "create", "--tenant", "demo", "--client-id", id, "--public",
        "--redirect-uri", `${this.spa}/callback`, "--allowed-origin", this.spa, ...extra]);
    // The demo's client; one whose access tokens live 3 s (expiry tests);
    // one in cookie mode (refresh token in an HttpOnly cookie).
    await client("spa");
    await client("spa-short", "--access-token-ttl", "3");
    await client("spa-cookie", "--refresh-token-cookie");

    this.#spawn("holdfast", HOLDFAST_BIN, [...this.#globals(), "serve"]);
    await waitFor("holdfast", async () => (await fetch(`${this.direct}/healthz`)).ok, 30_000, this.processes.at(-1));

    // The API follows the tenant's revocation feed as this receiver.
    const feed = JSON.parse(await this.cli(["--json", "client", "create", "--tenant", "demo",
      "--client-id", "api-feed", "--confidential", "--grant-type", "client_credentials", "--scope", "ssf"]));
    this.#spawn("api", RS_BIN, [
      "--issuer", this.issuer,
      "--audience", this.issuer,
      "--listen", `127.0.0.1:${rs}`,
      // Proofs name the URL the browser called: the API behind the SPA's proxy.
      "--public-url", this.spa,
      "--step-up-max-age", String(STEP_UP_MAX_AGE),
      "--critical-max-age", "300",
      "--feed-client-id", "api-feed",
    ], { RS_LOG: "info,holdfast_verify=debug", RS_FEED_CLIENT_SECRET: feed.client_secret });
    await waitFor("example API", async () => (await fetch(`${this.apiDirect}/api/hello`)).status === 401, 30_000, this.processes.at(-1));

    this.#spawn("spa", process.execPath, [
      path.join(repoRoot, "examples/spa/serve.mjs"),
      "--issuer", this.issuer,
      "--client-id", "spa",
      "--listen", `127.0.0.1:${spa}`,
      "--api", this.apiDirect,
    ]);
    await waitFor("demo SPA", async () => (await fetch(`${this.spa}/config.json`)).ok, 15_000, this.processes.at(-1));

    this.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  }

  #globals() {
    const mail = this.mail ? ["--smtp-url", this.mail.url] : [];
    const publicUrl = this.host ? ["--public-url", this.base] : [];
    return ["--data-dir", this.dataDir, "--listen", this.listen, ...publicUrl, "--argon2-memory-kib", "1024", "--argon2-iterations", "1", ...mail];
  }

  #spawn(name, bin, args, env = {}) {
    const log = createWriteStream(path.join(artifacts, "logs", `${name}.log`));
    const proc = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    proc.stdout.pipe(log);
    proc.stderr.pipe(log);
    proc.on("error", (e) => log.write(`spawn error: ${e.message}\n`));
    this.processes.push(proc);
    return proc;
  }

  /** Runs the admin CLI against this world's data directory (with `env` added). */
  async cli(args, input, env = {}) {
    const child = execFileP(HOLDFAST_BIN, [...this.#globals(), ...args], {
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, ...env },
    });
    if (input !== undefined) {
      child.child.stdin.end(input);
    }
    const { stdout } = await child;
    return stdout;
  }

  /** Starts `holdfast ARGS` in the background (output also in logs/NAME.log). */
  startCli(name, args, env = {}) {
    return this.#spawn(name, HOLDFAST_BIN, [...this.#globals(), ...args], env);
  }

  /** A new user with {@link PASSWORD}; returns its username. */
  async newUser(prefix = "user") {
    const username = `${prefix}${++this.users}`;
    await this.cli(["user", "create", "--tenant", "demo", "--username", username, "--password-stdin"], `${PASSWORD}\n`);
    return username;
  }

  /** Audit events of the tenant (optionally only of `sessionId`). */
  async events(sessionId) {
    const all = JSON.parse(await this.cli(["--json", "events", "--tenant", "demo", "--limit", "100000"]));
    return sessionId ? all.filter((e) => e.session_id === sessionId) : all;
  }

  /** How many events of each kind (for `sessionId`, or all). */
  async eventCounts(sessionId) {
    const counts = {};
    for (const e of await this.events(sessionId)) counts[e.kind] = (counts[e.kind] ?? 0) + 1;
    return counts;
  }

  /**
   * Opens the demo in `context` and waits until its start-up has finished;
   * the page's console goes to `log` (a writable stream) as `[label] …`.
   */
  async openDemo(context, label, log) {
    const page = await context.newPage();
    page.on("console", (m) => log.write(`[${label}] ${m.type()}: ${m.text()}\n`));
    page.on("pageerror", (e) => log.write(`[${label}] pageerror: ${e.message}\n`));
    await page.goto(this.spa);
    await page.waitForSelector("body[data-ready=true]");
    return page;
  }

  /** A new browser context (one "device"): its own storage, cookies and IndexedDB. */
  async newContext(options = {}) {
    const context = await this.browser.newContext({ viewport: { width: 1100, height: 900 }, ...options });
    context.setDefaultTimeout(20_000);
    return context;
  }

  async stop() {
    await this.browser?.close().catch(() => {});
    for (const p of this.processes) {
      if (p.exitCode === null) p.kill("SIGTERM");
    }
    await Promise.all(
      this.processes.map((p) => (p.exitCode !== null ? null : new Promise((r) => { p.once("exit", r); setTimeout(r, 3000); }))),
    );
    await this.mail?.close();
    if (this.dataDir && !process.env.HOLDFAST_TEST_KEEP) await rm(this.dataDir, { recursive: true, force: true });
  }
}
