//! Token mode, for mobile apps, single-page apps and APIs: the OAuth 2-shaped token endpoint that
//! issues access tokens with long-lived refresh tokens that rotate on every use, plus revocation
//! and introspection. The session stays the unit of revocation: ending it kills its refresh token
//! at once and puts its id on the revocation feed for services that verify access tokens locally.

pub mod refresh;
pub mod routes;
pub mod settings;
pub mod store;

pub use routes::router;
