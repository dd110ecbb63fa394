//! Token mode, for mobile apps, single-page apps and APIs: short-lived signed access tokens
//! (verifiable by any service with the published keys) and long-lived refresh tokens that rotate
//! on every use. The session stays the unit of revocation: ending it kills its refresh token at
//! once and puts its id on the revocation feed for services that verify access tokens locally.

pub mod access;
pub mod keys;
pub mod refresh;
pub mod routes;
pub mod store;

pub use routes::router;
