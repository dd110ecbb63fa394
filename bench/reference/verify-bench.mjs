// Access-token verifications per second on one thread with Node's `jose` (bench/run).
//
//   node verify-bench.mjs --issuer http://127.0.0.1:PORT --tokens FILE [--seconds 5]
//
// The Node counterpart of bench/verify-bench (portcullis-verify): fetches the issuer's JWKS once
// (createLocalJWKSet, so no I/O while timing), verifies every token of FILE (one access token per
// line) once, all of which must pass, then verifies them in turn, one at a time (each awaited
// before the next: one request's worth of work at a time, as on a single-threaded service), for
// --seconds, with the check docs/tokens.md recommends:
//
//   jwtVerify(token, jwks, {issuer, audience, typ: "at+jwt", algorithms: ["EdDSA", "ES256"]})
//
// and prints one JSON line with the same fields as verify-bench. jose verifies through WebCrypto,
// which Node runs on its libuv thread pool: `cpu_seconds` (process.cpuUsage, every thread) shows
// how much CPU that took besides the main thread's wall time.
import fs from "node:fs";
import { createLocalJWKSet, jwtVerify } from "jose";

function args() {
  const out = { seconds: 5 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--issuer") out.issuer = value.replace(/\/+$/, "");
    else if (flag === "--tokens") out.tokens = value;
    else if (flag === "--seconds") out.seconds = Number(value);
    else throw new Error(`unknown argument ${flag}`);
  }
  if (!out.issuer || !out.tokens) throw new Error("--issuer and --tokens are required");
  if (!(out.seconds > 0 && out.seconds <= 600)) throw new Error("--seconds must be in (0, 600]");
  const host = new URL(out.issuer).hostname;
  if (!["127.0.0.1", "localhost", "[::1]"].includes(host)) {
    throw new Error(`refusing a non-loopback issuer: ${out.issuer}`);
  }
  return out;
}

async function main() {
  const a = args();
  const tokens = fs.readFileSync(a.tokens, "utf8").split("\n").map((l) => l.trim()).filter(Boolean);
  if (tokens.length === 0) throw new Error(`no tokens in ${a.tokens}`);
  const algs = {};
  for (const t of tokens) {
    let alg = "?";
    try {
      alg = JSON.parse(Buffer.from(t.split(".")[0], "base64url").toString()).alg ?? "?";
    } catch {}
    algs[alg] = (algs[alg] ?? 0) + 1;
  }

  const res = await fetch(`${a.issuer}/api/auth/jwks`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET /api/auth/jwks: HTTP ${res.status}`);
  const jwks = createLocalJWKSet(await res.json());
  const options = {
    issuer: a.issuer,
    audience: a.issuer,
    typ: "at+jwt",
    algorithms: ["EdDSA", "ES256"],
  };

  for (const [i, t] of tokens.entries()) {
    try {
      await jwtVerify(t, jwks, options);
    } catch (e) {
      throw new Error(`token ${i + 1} of ${a.tokens} does not verify: ${e.code ?? ""} ${e.message}`);
    }
  }

  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const end = start + a.seconds * 1000;
  let done = 0;
  let failures = 0;
  let i = 0;
  let sink = 0;
  while (performance.now() < end) {
    for (let k = 0; k < 256; k++) {
      try {
        const { payload } = await jwtVerify(tokens[i], jwks, options);
        sink += payload.exp & 1;
      } catch {
        failures++;
      }
      i = i + 1 === tokens.length ? 0 : i + 1;
    }
    done += 256;
  }
  const secs = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu0);
  const cpu = (used.user + used.system) / 1e6;
  const version = JSON.parse(
    fs.readFileSync(new URL("./node_modules/jose/package.json", import.meta.url), "utf8"),
  ).version;
  console.log(JSON.stringify({
    library: `jose ${version} on Node ${process.version}`,
    verifications_per_sec: done / secs,
    verifications: done,
    seconds: secs,
    cpu_seconds: cpu,
    cores: cpu / secs,
    per_cpu_second: cpu > 0 ? done / cpu : null,
    failures,
    tokens: tokens.length,
    algs,
    sink: sink >= 0,
  }));
}

main().catch((e) => {
  console.error(`verify-bench.mjs: ${e.message}`);
  process.exit(1);
});
