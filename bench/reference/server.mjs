// better-auth reference server for the Portcullis benchmark (bench/run starts it).
//
// Plain better-auth core, configured as close to Portcullis's benchmark setup as the library allows:
// SQLite through better-sqlite3 (one file in REF_DATA_DIR), email/password on, no cookie cache (so
// every get-session reads the database, as Portcullis does), rate limiting off, no plugins.
// get-session is driven with the session cookie that sign-in sets (core has no bearer without the
// bearer() plugin). With REF_ORGANIZATION=1 (the organizations table, lib/organizations.sh) the
// organization plugin is on too, with its defaults; the main tables run without it.
//
// Environment:
//   PORT                  port to listen on (127.0.0.1 only)       required
//   REF_DATA_DIR          directory for the SQLite file             required
//   BETTER_AUTH_SECRET    signing secret (bench/run generates one)  required
//   REF_ORGANIZATION      1: the organization plugin on             optional
import http from "node:http";
import path from "node:path";
import fs from "node:fs";
import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { organization } from "better-auth/plugins";

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`reference server: ${name} must be set`);
    process.exit(2);
  }
  return v;
}

const port = Number(need("PORT"));
const dataDir = need("REF_DATA_DIR");
const secret = need("BETTER_AUTH_SECRET");
const baseURL = `http://127.0.0.1:${port}`;

fs.mkdirSync(dataDir, { recursive: true });
const db = new Database(path.join(dataDir, "better-auth.sqlite"));
// Same durability trade-off a production SQLite deployment would make (and that Portcullis makes).
db.pragma("journal_mode = WAL");
db.pragma("synchronous = NORMAL");
db.pragma("busy_timeout = 5000");

const options = {
  baseURL,
  basePath: "/api/auth",
  secret,
  database: db,
  trustedOrigins: [baseURL],
  emailAndPassword: { enabled: true },
  session: { cookieCache: { enabled: false } },
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  plugins: process.env.REF_ORGANIZATION === "1" ? [organization()] : [],
};

const { runMigrations } = await getMigrations(options);
await runMigrations();

const auth = betterAuth(options);
const handler = toNodeHandler(auth);

const server = http.createServer((req, res) => {
  handler(req, res).catch((err) => {
    console.error(err);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1", () => {
  console.error(`better-auth reference listening on ${baseURL} (node ${process.version})`);
});

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    server.close();
    db.close();
    process.exit(0);
  });
}
