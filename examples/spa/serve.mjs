#!/usr/bin/env node
// Serves the demo SPA: its static files, the built SDK under /sdk/, a
// /config.json telling the page which Holdfast tenant and client to use,
// and a reverse proxy of /api/* to the example resource server (which has
// no CORS of its own: through the proxy the API is same-origin with the
// page, so the browser sends DPoP and Authorization headers without a
// preflight). No dependencies besides Node.js (>= 20).
//
//   node examples/spa/serve.mjs --issuer http://127.0.0.1:8080/t/demo \
//     [--client-id spa] [--listen 127.0.0.1:5173] [--api http://127.0.0.1:9090] \
//     [--scope "openid profile"] [--refresh-token-storage indexeddb|cookie] [--sdk-dir DIR]
//
// Every flag can also be given as an environment variable: SPA_ISSUER,
// SPA_CLIENT_ID, SPA_LISTEN, SPA_API, SPA_SCOPE, SPA_REFRESH_TOKEN_STORAGE,
// SPA_SDK_DIR. The API must be started with `--public-url` set to this
// server's URL, since DPoP proofs name the URL the browser called.

import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = path.dirname(fileURLToPath(import.meta.url));

const { values: args } = parseArgs({
  options: {
    issuer: { type: "string", default: process.env.SPA_ISSUER },
    "client-id": { type: "string", default: process.env.SPA_CLIENT_ID ?? "spa" },
    listen: { type: "string", default: process.env.SPA_LISTEN ?? "127.0.0.1:5173" },
    api: { type: "string", default: process.env.SPA_API ?? "http://127.0.0.1:9090" },
    scope: { type: "string", default: process.env.SPA_SCOPE ?? "openid profile" },
    "refresh-token-storage": { type: "string", default: process.env.SPA_REFRESH_TOKEN_STORAGE ?? "indexeddb" },
    "sdk-dir": { type: "string", default: process.env.SPA_SDK_DIR ?? path.join(here, "../../clients/js/dist") },
    help: { type: "boolean", short: "h" },
  },
});

if (args.help || !args.issuer) {
  console.error(
    "usage: node serve.mjs --issuer URL [--client-id ID] [--listen HOST:PORT] [--api URL] [--scope S] [--refresh-token-storage indexeddb|cookie] [--sdk-dir DIR]",
  );
  process.exit(args.help ? 0 : 2);
}

const issuer = args.issuer.replace(/\/+$/, "");
try {
  await stat(path.join(path.resolve(args["sdk-dir"]), "index.js"));
} catch {
  console.error(`the SDK is not built (no index.js in ${path.resolve(args["sdk-dir"])}): run \`npm ci && npm run build\` in clients/js`);
  process.exit(1);
}
const api = new URL(args.api);
const sdkDir = path.resolve(args["sdk-dir"]);
const [host, portText] = args.listen.includes(":") ? args.listen.split(/:(?=[^:]*$)/) : ["127.0.0.1", args.listen];
const port = Number(portText);

const config = {
  issuer,
  clientId: args["client-id"],
  scope: args.scope,
  refreshTokenStorage: args["refresh-token-storage"],
};

// Only these files are served from this folder (not serve.mjs, README, ...).
const PAGES = { "/": "index.html", "/index.html": "index.html", "/callback": "index.html", "/app.js": "app.js", "/app.css": "app.css" };
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".map": "application/json", ".json": "application/json", ".ts": "text/plain; charset=utf-8" };

// The page's scripts come only from this origin and may talk only to it and
// to Holdfast: an injected script could not load code or send data elsewhere.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  `connect-src 'self' ${new URL(issuer).origin}`,
  "img-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "object-src 'none'",
].join("; ");

function securityHeaders(type) {
  return {
    "Content-Type": type,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    ...(type.startsWith("text/html") ? { "Content-Security-Policy": CSP } : {}),
  };
}

async function sendFile(res, file) {
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new Error("not a file");
  } catch {
    res.writeHead(404, securityHeaders("text/plain; charset=utf-8")).end("not found\n");
    return;
  }
  res.writeHead(200, securityHeaders(TYPES[path.extname(file)] ?? "application/octet-stream"));
  createReadStream(file).pipe(res);
}

function proxy(req, res) {
  const headers = { ...req.headers, host: api.host };
  delete headers.connection;
  const upstream = http.request(
    { protocol: api.protocol, hostname: api.hostname, port: api.port, method: req.method, path: req.url, headers },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  upstream.on("error", (e) => {
    if (!res.headersSent) {
      res.writeHead(502, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ error: "bad_gateway", error_description: `API unreachable: ${e.message}` }));
    } else {
      res.destroy();
    }
  });
  req.pipe(upstream);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  if (url.pathname.startsWith("/api/")) return proxy(req, res);
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, securityHeaders("text/plain; charset=utf-8")).end("method not allowed\n");
    return;
  }
  if (url.pathname === "/config.json") {
    res.writeHead(200, securityHeaders("application/json")).end(JSON.stringify(config));
    return;
  }
  if (url.pathname.startsWith("/sdk/")) {
    const file = path.resolve(sdkDir, "." + path.posix.normalize(url.pathname.slice("/sdk".length)));
    if (!file.startsWith(sdkDir + path.sep)) {
      res.writeHead(404).end();
      return;
    }
    return sendFile(res, file);
  }
  const page = PAGES[url.pathname];
  if (!page) {
    res.writeHead(404, securityHeaders("text/plain; charset=utf-8")).end("not found\n");
    return;
  }
  return sendFile(res, path.join(here, page));
});

server.listen(port, host, () => {
  const { address, port: bound } = server.address();
  console.log(`demo SPA on http://${address}:${bound} (issuer ${issuer}, client ${config.clientId}, API ${api.origin})`);
  console.log(`the API must be started with --public-url http://${address}:${bound} (DPoP proofs name this origin)`);
});

for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
