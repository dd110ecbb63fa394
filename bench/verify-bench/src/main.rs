//! Access-token verifications per second on ONE thread with `portcullis-verify` (bench/run).
//!
//! ```text
//! verify-bench --issuer http://127.0.0.1:PORT --tokens FILE [--seconds 5] [--clk-tck 100]
//! ```
//!
//! Builds a `Verifier` against the running Portcullis exactly as a service would
//! (`VerifierConfig::new(issuer)`, following the revocation feed), on a current-thread Tokio
//! runtime: the verification loop and the verifier's background tasks (feed poll every 500 ms,
//! JWKS refresh) share this one thread, as they share a service's cores. Every token of FILE (one
//! access token per line) is verified once first and must pass; then the loop verifies them in
//! turn for `--seconds` and prints one JSON line:
//!
//! ```text
//! {"verifications_per_sec": …, "verifications": …, "seconds": …, "cpu_seconds": …,
//!  "cores": …, "per_cpu_second": …, "failures": 0, "tokens": N, "algs": {"EdDSA": N}, …}
//! ```
//!
//! `cpu_seconds` is the CPU time of the whole process (all threads) over the loop, from
//! /proc/self/stat; `per_cpu_second` = verifications ÷ cpu_seconds.
//!
//! With `--bare JWKS_FILE` it checks only the Ed25519 signatures of the same tokens with ring
//! (see `bare.rs`): the limit row beside portcullis-verify.

mod bare;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use portcullis_verify::{Verifier, VerifierConfig};
use serde_json::json;

struct Args {
    issuer: String,
    tokens: String,
    seconds: f64,
    clk_tck: f64,
    bare_jwks: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut issuer = None;
    let mut tokens = None;
    let mut seconds = 5.0;
    let mut clk_tck = 100.0;
    let mut bare_jwks = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--issuer" => issuer = Some(value()?),
            "--tokens" => tokens = Some(value()?),
            "--seconds" => seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--bare" => bare_jwks = Some(value()?),
            "--clk-tck" => clk_tck = value()?.parse().map_err(|e| format!("--clk-tck: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !(seconds > 0.0 && seconds <= 600.0) {
        return Err("--seconds must be in (0, 600]".into());
    }
    Ok(Args {
        issuer: issuer.ok_or("--issuer is required")?,
        tokens: tokens.ok_or("--tokens is required")?,
        seconds,
        clk_tck,
        bare_jwks,
    })
}

/// CPU time used so far by this process, all threads (utime + stime), in seconds.
fn process_cpu_seconds(clk_tck: f64) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after "state" (field 3).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clk_tck)
}

/// The `alg` of a JWS header, without checking anything (for the report only).
fn header_alg(token: &str) -> String {
    let Some(header) = token.split('.').next() else {
        return "?".into();
    };
    // Tiny base64url decoder: the header is short and this is not on the measured path.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for b in header.bytes() {
        let Some(v) = A.iter().position(|&c| c == b) else {
            return "?".into();
        };
        bits = (bits << 6) | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    serde_json::from_slice::<serde_json::Value>(&out)
        .ok()
        .and_then(|v| v.get("alg").and_then(|a| a.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

async fn run(args: Args) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(&args.tokens)
        .map_err(|e| format!("cannot read {}: {e}", args.tokens))?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        return Err(format!("no tokens in {}", args.tokens));
    }
    let mut algs = BTreeMap::<String, usize>::new();
    for t in &tokens {
        *algs.entry(header_alg(t)).or_default() += 1;
    }

    if let Some(jwks) = &args.bare_jwks {
        return run_bare(&args, jwks, &tokens, algs);
    }

    let mut config = VerifierConfig::new(args.issuer.clone());
    config.follow_revocations = true; // the default, as in real use: said explicitly
    let verifier = Verifier::new(config)
        .await
        .map_err(|e| format!("Verifier::new({}): {e}", args.issuer))?;

    // Every token must verify before anything is timed: a benchmark of refusals measures nothing.
    for (i, t) in tokens.iter().enumerate() {
        verifier
            .verify(t)
            .await
            .map_err(|e| format!("token {} of {} does not verify: {e}", i + 1, args.tokens))?;
    }

    let duration = Duration::from_secs_f64(args.seconds);
    let cpu0 = process_cpu_seconds(args.clk_tck);
    let start = Instant::now();
    let mut done: u64 = 0;
    let mut failures: u64 = 0;
    let mut i = 0;
    loop {
        // Check the clock every 256 verifications, and let the verifier's background tasks (the
        // revocation-feed poll, the JWKS refresh) run on this thread meanwhile.
        for _ in 0..256 {
            match verifier.verify(black_box(&tokens[i])).await {
                Ok(claims) => {
                    black_box(claims);
                }
                Err(_) => failures += 1,
            }
            i += 1;
            if i == tokens.len() {
                i = 0;
            }
        }
        done += 256;
        tokio::task::yield_now().await;
        if start.elapsed() >= duration {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mut report = loop_report(
        concat!(
            "portcullis-verify (bench/verify-bench ",
            env!("CARGO_PKG_VERSION"),
            ")"
        ),
        Timed {
            done,
            failures,
            secs,
            cpu0,
            clk_tck: args.clk_tck,
        },
        tokens.len(),
        algs,
    );
    report["follow_revocations"] = json!(true);
    report["revocation_cursor"] = json!(verifier.revocation_cursor());
    Ok(report)
}

/// What one timed loop did.
struct Timed {
    done: u64,
    failures: u64,
    secs: f64,
    /// The process's CPU seconds when the loop began.
    cpu0: Option<f64>,
    clk_tck: f64,
}

/// The JSON line both loops print (see the top of this file).
fn loop_report(
    library: &str,
    timed: Timed,
    tokens: usize,
    algs: BTreeMap<String, usize>,
) -> serde_json::Value {
    let Timed {
        done,
        failures,
        secs,
        cpu0,
        clk_tck,
    } = timed;
    let cpu = match (cpu0, process_cpu_seconds(clk_tck)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    json!({
        "library": library,
        "verifications_per_sec": done as f64 / secs,
        "verifications": done,
        "seconds": secs,
        "cpu_seconds": cpu,
        "cores": cpu.map(|c| c / secs),
        "per_cpu_second": cpu.filter(|c| *c > 0.0).map(|c| done as f64 / c),
        "failures": failures,
        "tokens": tokens,
        "algs": algs,
    })
}

/// The signature check alone, timed like the verifier (see `bare.rs`).
fn run_bare(
    args: &Args,
    jwks_file: &str,
    tokens: &[String],
    algs: BTreeMap<String, usize>,
) -> Result<serde_json::Value, String> {
    let jwks =
        std::fs::read_to_string(jwks_file).map_err(|e| format!("cannot read {jwks_file}: {e}"))?;
    let keys = bare::ed25519_keys(&jwks)?;
    let prepared = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| bare::prepare(t, &keys).map_err(|e| format!("token {}: {e}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(i) = prepared.iter().position(|p| !p.verify()) {
        return Err(format!("token {} has a bad signature", i + 1));
    }
    let duration = Duration::from_secs_f64(args.seconds);
    let cpu0 = process_cpu_seconds(args.clk_tck);
    let start = Instant::now();
    let (mut done, mut failures, mut i) = (0u64, 0u64, 0usize);
    while start.elapsed() < duration {
        for _ in 0..256 {
            if !black_box(&prepared[i]).verify() {
                failures += 1;
            }
            i = (i + 1) % prepared.len();
        }
        done += 256;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(loop_report(
        "ring Ed25519 signature check only (bench/verify-bench --bare)",
        Timed {
            done,
            failures,
            secs,
            cpu0,
            clk_tck: args.clk_tck,
        },
        tokens.len(),
        algs,
    ))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("verify-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("verify-bench: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("verify-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
