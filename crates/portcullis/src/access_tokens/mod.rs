//! Access tokens: short-lived JWTs (RFC 9068) that services verify with the published keys alone,
//! and the signing keys behind them (rotation, publication as a JWKS). Sessions accept these
//! tokens as bearer credentials; the token endpoint issues them.

pub mod jwt;
pub mod keys;
pub mod routes;
pub mod settings;
pub mod store;

pub use routes::router;
