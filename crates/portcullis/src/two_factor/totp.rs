//! TOTP (RFC 6238) as authenticator apps do it by default: HMAC-SHA1, 6 digits, 30-second steps.
//! The code arithmetic is totp-rs's; this module adds what a server needs around it: which step a
//! code belongs to (so that a code is accepted once), the otpauth URI, and its QR code.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use rand::Rng;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Totp};

/// 160 bits: RFC 4226's recommended length, and what apps expect from a SHA-1 secret.
pub const SECRET_BYTES: usize = 20;
const DIGITS: u8 = 6;
const STEP_SECONDS: u64 = 30;
/// Steps accepted either side of the server's own, for the drift of a phone's clock.
const DRIFT_STEPS: i64 = 1;
const MAX_ISSUER_CHARS: usize = 64;

pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    UnwrapErr(SysRng).fill_bytes(&mut secret);
    secret
}

/// An issuer shown by authenticator apps: 1 to 64 characters, no `:` (it separates the issuer
/// from the account in the URI's label) and no control characters.
pub fn checked_issuer(raw: &str) -> Result<String, &'static str> {
    let issuer = raw.trim();
    if issuer.is_empty()
        || issuer.chars().count() > MAX_ISSUER_CHARS
        || issuer.contains(':')
        || issuer.chars().any(char::is_control)
    {
        return Err("must be 1 to 64 characters, without `:` or control characters");
    }
    Ok(issuer.to_owned())
}

/// What the Key Uri Format percent-encodes in a label or parameter: all but ASCII letters, digits
/// and `-` `.` `_` `~` (as totp-rs 5 did).
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub struct Authenticator {
    totp: Totp,
    issuer: String,
    account: String,
}

impl Authenticator {
    pub fn new(secret: Vec<u8>, issuer: &str, account: &str) -> Self {
        // The drift window is `step_of`'s, not the library's (skew 0). Not RFC-checked: the secret
        // is always `SECRET_BYTES` long and the other values are the constants above.
        let totp = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(0)
            .with_step_duration(STEP_SECONDS)
            .with_secret(secret)
            .build_noncompliant();
        Self {
            totp,
            issuer: issuer.to_owned(),
            account: account.to_owned(),
        }
    }

    /// `otpauth://totp/<issuer>:<account>?secret=...&issuer=...` (Key Uri Format). Written here
    /// rather than by totp-rs, whose `to_url` (since 6) refuses an account holding a `:`, which
    /// an email may; percent-encoded, it cannot be taken for the issuer separator.
    pub fn uri(&self) -> String {
        let issuer = utf8_percent_encode(&self.issuer, URI_COMPONENT);
        let account = utf8_percent_encode(&self.account, URI_COMPONENT);
        let secret = self.totp.secret().to_base32();
        format!("otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}")
    }

    /// The URI as a QR code, in SVG, for a user interface to show as is.
    pub fn qr_svg(&self) -> String {
        QrCode::with_error_correction_level(self.uri().as_bytes(), EcLevel::M)
            .map(|code| {
                code.render::<svg::Color<'_>>()
                    .min_dimensions(200, 200)
                    .build()
            })
            .unwrap_or_default()
    }

    /// The time step that `code` belongs to, if it is one within the drift window around
    /// `now_seconds` and later than `last_used_step` (a code is good once). Every candidate is
    /// computed and compared in constant time, so the answer's timing says nothing.
    pub fn step_of(&self, code: &str, now_seconds: u64, last_used_step: i64) -> Option<i64> {
        if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = i64::try_from(now_seconds / STEP_SECONDS).ok()?;
        let mut found = None;
        for step in (current - DRIFT_STEPS)..=(current + DRIFT_STEPS) {
            let Ok(step_start) = u64::try_from(step) else {
                continue;
            };
            let expected = self.totp.generate(step_start * STEP_SECONDS).to_string();
            let matches: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
            if matches && step > last_used_step && found.is_none() {
                found = Some(step);
            }
        }
        found
    }
}

/// A typed code without the spaces apps show in the middle ("123 456").
pub fn normalized_code(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_whitespace()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    fn rfc_authenticator() -> Authenticator {
        Authenticator::new(RFC_SECRET.to_vec(), "Portcullis", "a@example.com")
    }

    /// RFC 6238 Appendix B, SHA-1 rows. The RFC prints 8 digits; a 6-digit code is the same
    /// truncated value modulo 10^6, i.e. its last six digits.
    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        let vectors = [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        let auth = rfc_authenticator();
        for (time, eight_digits) in vectors {
            let code = &eight_digits[2..];
            let step = i64::try_from(time / 30).unwrap();
            assert_eq!(auth.step_of(code, time, -1), Some(step), "time {time}");
        }
        let eight = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(8)
            .with_skew(0)
            .with_step_duration(30)
            .with_secret(RFC_SECRET)
            .build_noncompliant();
        for (time, eight_digits) in vectors {
            assert_eq!(
                eight.generate(time).to_string(),
                eight_digits,
                "time {time}"
            );
        }
    }

    #[test]
    fn one_step_of_drift_either_way_is_accepted_two_are_not() {
        let auth = rfc_authenticator();
        let now = 1_111_111_111u64;
        let step = i64::try_from(now / 30).unwrap();
        let code_at = |delta: i64| {
            auth.totp
                .generate(u64::try_from(step + delta).unwrap() * 30)
                .to_string()
        };
        assert_eq!(auth.step_of(&code_at(-1), now, 0), Some(step - 1));
        assert_eq!(auth.step_of(&code_at(1), now, 0), Some(step + 1));
        assert_eq!(auth.step_of(&code_at(-2), now, 0), None);
        assert_eq!(auth.step_of(&code_at(2), now, 0), None);
    }

    #[test]
    fn a_code_is_good_only_after_the_last_used_step() {
        let auth = rfc_authenticator();
        let now = 1_111_111_111u64;
        let step = i64::try_from(now / 30).unwrap();
        let code = auth.totp.generate(now).to_string();
        assert_eq!(auth.step_of(&code, now, step - 1), Some(step));
        assert_eq!(auth.step_of(&code, now, step), None);
        assert_eq!(auth.step_of(&code, now, step + 1), None);
    }

    #[test]
    fn malformed_codes_are_refused() {
        let auth = rfc_authenticator();
        for code in ["", "12345", "1234567", "12345a", "１２３４５６", "-12345"] {
            assert_eq!(auth.step_of(code, 59, -1), None, "{code:?}");
        }
        assert_eq!(normalized_code(" 287 082 "), "287082");
    }

    #[test]
    fn uri_and_qr_code_carry_the_secret_issuer_and_account() {
        let auth = Authenticator::new(RFC_SECRET.to_vec(), "Acme Corp", "ada:x@example.com");
        let uri = auth.uri();
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Corp:ada%3Ax%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Corp"
        );
        assert!(auth.qr_svg().contains("<svg"));
    }

    #[test]
    fn issuers_are_checked() {
        assert_eq!(checked_issuer(" Acme ").unwrap(), "Acme");
        for bad in ["", "  ", "a:b", "tab\there", &"x".repeat(65)] {
            assert!(checked_issuer(bad).is_err(), "{bad:?}");
        }
        assert_eq!(new_secret().len(), SECRET_BYTES);
        assert_ne!(new_secret(), new_secret());
    }
}
