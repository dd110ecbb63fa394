//! Outgoing mail: templates, the durable outbox and the worker that delivers it over SMTP.
//!
//! Without `smtp_url` (development), messages are kept in the outbox as `held`, and
//! `portcullis mail list` / `portcullis mail show <id>` print them.

pub mod outbox;
pub mod settings;
pub mod templates;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use lettre::{AsyncSmtpTransport, Tokio1Executor};
use sqlx::AnyConnection;
use tokio::sync::Notify;

use crate::clock::Clock;
pub use outbox::Outgoing;
use settings::MailSettings;
pub use templates::{Context, Kind};

#[derive(Clone)]
pub struct Mailer {
    templates: Arc<templates::Templates>,
    catalogues: Arc<crate::i18n::Catalogues>,
    config: Arc<MailSettings>,
    pub(crate) transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    wake: Arc<Notify>,
    pub(crate) clock: Clock,
}

impl Mailer {
    pub fn new(
        config: &MailSettings,
        clock: Clock,
        catalogues: Arc<crate::i18n::Catalogues>,
    ) -> anyhow::Result<Self> {
        let transport = config.smtp_url().as_ref().map(transport).transpose()?;
        Ok(Self {
            templates: Arc::new(templates::Templates::load(
                config.templates_dir.as_deref(),
                Arc::clone(&catalogues),
            )?),
            catalogues,
            config: Arc::new(config.clone()),
            transport,
            wake: Arc::new(Notify::new()),
            clock,
        })
    }

    pub fn config(&self) -> &MailSettings {
        &self.config
    }

    /// Renders a message for `to`, in the language of the request that causes it (`language`:
    /// its `?lang=`, then `Accept-Language`: the person acting is the one reading, or the one who
    /// chose to write to them), else `i18n.default_language`.
    pub fn compose(
        &self,
        kind: Kind,
        to: &str,
        context: &Context<'_>,
        language: &crate::i18n::Requested,
    ) -> anyhow::Result<Outgoing> {
        let language = language.choose(&self.catalogues);
        let rendered = self.templates.render(kind, context, &language)?;
        Ok(Outgoing {
            kind: kind.as_str(),
            to: to.to_owned(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
        })
    }

    /// Writes a message to the outbox on `conn` (inside the caller's transaction). Call `wake`
    /// after committing so delivery starts at once.
    pub async fn enqueue(
        &self,
        conn: &mut AnyConnection,
        message: &Outgoing,
    ) -> Result<String, crate::db::DbError> {
        let status = if self.transport.is_some() {
            "pending"
        } else {
            "held"
        };
        outbox::insert(conn, message, status, self.clock.now_ms()).await
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The SMTP transport for a configured URL. `smtp://` requires STARTTLS unless the URL says
/// `tls=none` (a trusted relay on the same host) or `tls=opportunistic`; `smtps://` is implicit TLS.
fn transport(url: &url::Url) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let mut url = url.clone();
    let tls = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    match (url.scheme(), tls.as_deref()) {
        ("smtp", None) => {
            url.set_query(Some("tls=required"));
        }
        ("smtp", Some("none")) => url.set_query(None),
        ("smtp", Some("required" | "opportunistic")) | ("smtps", _) => {}
        (_, Some(other)) => {
            anyhow::bail!("smtp_url: tls={other} is not none, opportunistic or required")
        }
        _ => {}
    }
    let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.as_str())
        .map_err(|e| anyhow::anyhow!("smtp_url: {e}"))?;
    Ok(builder.timeout(Some(Duration::from_secs(20))).build())
}

/// "24 hours", "1 hour", "30 minutes": for mail bodies.
pub fn human_duration(duration: Duration) -> String {
    let minutes = duration.as_secs() / 60;
    let (n, unit) = if minutes >= 120 && minutes.is_multiple_of(60) {
        (minutes / 60, "hour")
    } else if minutes >= 60 && minutes.is_multiple_of(60) {
        (1, "hour")
    } else {
        (minutes.max(1), "minute")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}
