//! Delivers the outbox: claims one due message at a time (a lease, so instances never send the
//! same message together), sends it, and on failure retries with exponential backoff.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncTransport, Message};

use super::outbox::{self, Stored};
use super::Mailer;
use crate::db::Db;

/// How long a claim lasts: longer than an SMTP conversation (its timeout is 20 s).
const LEASE_MS: i64 = 60_000;
/// After this many attempts (about an hour and a half of backoff) a message is marked failed.
const MAX_ATTEMPTS: i64 = 20;
const MAX_BACKOFF_SECS: i64 = 300;
const IDLE_POLL: Duration = Duration::from_secs(1);

pub async fn run(db: Db, mailer: Mailer) {
    if mailer.transport.is_none() {
        tracing::info!("no smtp_url: mail is kept in the outbox (portcullis mail list)");
        return;
    }
    loop {
        loop {
            match outbox::claim_due(&db, mailer.clock.now_ms(), LEASE_MS).await {
                Ok(Some(message)) => deliver(&db, &mailer, message).await,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the outbox");
                    break;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(IDLE_POLL) => {},
            () = mailer.wake.notified() => {},
        }
    }
}

async fn deliver(db: &Db, mailer: &Mailer, message: Stored) {
    let outcome = send(mailer, &message).await;
    let recorded = match outcome {
        Ok(()) => {
            tracing::info!(id = %message.id, kind = %message.kind, "mail delivered");
            metrics::counter!("mail_sent_total").increment(1);
            outbox::mark_sent(db, &message.id, mailer.clock.now_ms()).await
        }
        Err(error) => {
            let next = (message.attempts < MAX_ATTEMPTS)
                .then(|| mailer.clock.now_ms() + backoff_ms(message.attempts));
            tracing::warn!(id = %message.id, kind = %message.kind, attempts = message.attempts, %error,
                gave_up = next.is_none(), "mail delivery failed");
            let gave_up = if next.is_none() { "true" } else { "false" };
            metrics::counter!("mail_delivery_failures_total", "gave_up" => gave_up).increment(1);
            outbox::mark_attempt_failed(db, &message.id, &error, next).await
        }
    };
    if let Err(e) = recorded {
        // The lease expires and the message is tried again: at-least-once delivery.
        tracing::error!(id = %message.id, error = %e, "cannot record a delivery outcome");
    }
}

/// 1 s, 2 s, 4 s, ... up to 5 minutes.
fn backoff_ms(attempts: i64) -> i64 {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    2i64.pow(exponent).min(MAX_BACKOFF_SECS) * 1000
}

async fn send(mailer: &Mailer, message: &Stored) -> Result<(), String> {
    let transport = mailer.transport.as_ref().ok_or("no SMTP transport")?;
    let config = mailer.config();
    let from = Mailbox::new(
        Some(config.from_name.clone()),
        config
            .from_address
            .parse()
            .map_err(|e| format!("sender address: {e}"))?,
    );
    let to: Mailbox = message
        .to
        .parse()
        .map_err(|e| format!("recipient address: {e}"))?;
    let email = Message::builder()
        .from(from)
        .to(to)
        .subject(message.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            message.text.clone(),
            message.html.clone(),
        ))
        .map_err(|e| format!("building the message: {e}"))?;
    transport
        .send(email)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff_ms(1), 1000);
        assert_eq!(backoff_ms(2), 2000);
        assert_eq!(backoff_ms(5), 16000);
        assert_eq!(backoff_ms(12), 300_000);
        assert_eq!(backoff_ms(40), 300_000);
    }
}
