//! A tiny resource server protected by Portcullis access tokens.
//!
//! ```sh
//! PORTCULLIS_ISSUER=http://127.0.0.1:8080 LISTEN=127.0.0.1:3000 \
//!     cargo run -p portcullis-verify --example resource_server
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:3000/me
//! ```
//!
//! Optional: `PORTCULLIS_AUDIENCE` (default: the issuer) and
//! `PORTCULLIS_FEED_TOKEN` (when the server protects its revocation feed).

use axum::{routing::get, Json, Router};
use portcullis_verify::{AccessToken, Claims, Verifier, VerifierConfig};

/// Who is calling: the verified claims of the access token.
async fn me(AccessToken(claims): AccessToken) -> Json<Claims> {
    Json(claims)
}

/// Open to anyone, personalised when a valid token is presented.
async fn hello(token: Option<AccessToken>) -> String {
    match token {
        Some(AccessToken(claims)) => format!("hello, {}\n", claims.sub),
        None => "hello, stranger\n".to_string(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,portcullis_verify=debug".into()),
        )
        .init();

    let issuer =
        std::env::var("PORTCULLIS_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());

    let mut config = VerifierConfig::new(issuer);
    if let Ok(audience) = std::env::var("PORTCULLIS_AUDIENCE") {
        config.audience = audience;
    }
    config.feed_token = std::env::var("PORTCULLIS_FEED_TOKEN").ok();
    let verifier = Verifier::new(config).await?;
    tracing::info!(keys = ?verifier.key_ids(), "verifier ready");

    let app = Router::new()
        .route("/me", get(me))
        .route("/", get(hello))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
