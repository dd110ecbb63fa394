//! HTTP plumbing shared by every feature: extractors, cookies, the origin check, timestamps.

pub mod answers;
pub mod client;
pub mod cookies;
pub mod cors;
pub mod csrf;
pub mod json;
pub mod protection;
pub mod redirect;
pub mod server;
pub mod settings;
pub mod timestamp;
