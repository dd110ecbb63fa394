//! Connection handling settings (`[server]`): what a client may cost the server.

use std::time::Duration;

use axum::http::HeaderName;

use crate::settings::parse::{duration, list, number_in};
use crate::settings_group;

settings_group! {
    /// `[server]`
    pub struct ServerSettings {
        /// A client must send a request's headers within this; over HTTP/1 it is also how long a
        /// connection may wait for its next request (slow or silent clients are closed).
        header_timeout: Duration = Plain("server.header_timeout", Value("10s"), duration),
        /// A connection (HTTP/1 or HTTP/2) on which no byte moves for this long is closed.
        idle_timeout: Duration = Plain("server.idle_timeout", Value("60s"), duration),
        /// A request still unanswered after this is answered `408` and its work dropped.
        request_timeout: Duration = Plain("server.request_timeout", Value("30s"), duration),
        /// Connections served at once; more wait in the listen queue. `0`: the file-descriptor
        /// limit minus a reserve for the database and files.
        max_connections: usize = Plain("server.max_connections", Value("0"), number_in(0..=1_000_000)),
    }
}

settings_group! {
    /// `[cors]`
    pub struct CorsSettings {
        /// Request headers, besides `content-type` and `authorization`, that apps on trusted
        /// origins may send cross-origin (a comma-separated list, such as `x-client-version`).
        allowed_headers: Vec<HeaderName> = Plain("cors.allowed_headers", Value(""), header_names),
    }
}

fn header_names(raw: &str) -> Result<Vec<HeaderName>, String> {
    list(raw)?
        .iter()
        .map(|name| {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not an HTTP header name"))
        })
        .collect()
}
