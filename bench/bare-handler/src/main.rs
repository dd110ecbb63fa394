//! The limit row of bench/run: axum with no middleware answering `GET /api/auth/get-session`
//! with fixed bytes (a real get-session answer of the Portcullis being measured, read from a file)
//! and `GET /api/auth/ok` with `{"ok":true}`. Whatever Portcullis needs beyond this is its own work:
//! middleware, the session lookup, JSON encoding.
//!
//! Usage: bare-handler <listen address> <file with the get-session body>

use axum::http::header::{HeaderName, CONTENT_TYPE};
use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(body_file)) = (args.next(), args.next()) else {
        eprintln!("usage: bare-handler <listen address> <get-session body file>");
        std::process::exit(2);
    };
    let body: &'static [u8] = std::fs::read(&body_file)
        .unwrap_or_else(|e| panic!("reading {body_file}: {e}"))
        .leak();
    const JSON: [(HeaderName, &str); 1] = [(CONTENT_TYPE, "application/json")];
    let app = Router::new()
        .route("/api/auth/get-session", get(move || async move { (JSON, body) }))
        .route("/api/auth/ok", get(|| async { (JSON, &b"{\"ok\":true}"[..]) }));
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| panic!("binding {listen}: {e}"));
    eprintln!("listening on http://{}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.unwrap();
}
