//! Verify Portcullis access tokens locally.
//!
//! Backend services use this crate to check the short-lived JWT access
//! tokens Portcullis issues, with no call to Portcullis per request:
//!
//! - the signing keys come from the issuer's JWKS (`/api/auth/jwks`), cached,
//!   refreshed in the background, and refetched (rate-bounded) when a token
//!   names a new `kid`;
//! - every token goes through strict RFC 8725 / RFC 9068 checks (see
//!   [`Verifier::verify`]);
//! - the issuer's revocation feed (`/api/auth/revocations`) is polled every
//!   500 ms, so a signed-out session or a banned user's tokens are refused
//!   within about a second even though the tokens are stateless.
//!
//! ```no_run
//! use axum::{routing::get, Json, Router};
//! use portcullis_verify::{AccessToken, Claims, Verifier, VerifierConfig};
//!
//! async fn me(AccessToken(claims): AccessToken) -> Json<Claims> {
//!     Json(claims)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::new(VerifierConfig::new("https://auth.example.com")).await?;
//! let app: Router = Router::new().route("/me", get(me)).with_state(verifier);
//! # Ok(()) }
//! ```
//!
//! Features: `axum` (default) provides the [`AccessToken`] extractor.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod claims;
mod config;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod jwk;
mod jws;
mod revocation;
mod verifier;

pub use claims::Claims;
pub use config::VerifierConfig;
pub use error::VerifyError;
#[cfg(feature = "axum")]
pub use extract::{AccessToken, AccessTokenRejection};
pub use jwk::{Alg, Jwk};
pub use jws::{verify_signature_only, MAX_KID_LEN, MAX_TOKEN_LEN};
/// Roles and permission statements (the organization plugin's), to evaluate `org_role` offline.
pub use portcullis_access as access;
pub use verifier::Verifier;
