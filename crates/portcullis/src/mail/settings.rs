//! Outgoing mail settings.

use std::path::PathBuf;

use url::Url;

use crate::settings::parse::{optional, single_line};
use crate::settings::{ExposeSecret, SecretString};
use crate::settings_group;

settings_group! {
    /// `smtp_url` and `[mail]`
    pub struct MailSettings {
        /// `smtp://user:password@host:587` (STARTTLS required), `smtps://user:password@host:465`
        /// (implicit TLS), `smtp://127.0.0.1:25?tls=none` (a trusted local relay only).
        smtp_url: Option<SecretString> = Credentials("smtp_url", Unset("none: mail stays in the outbox"), optional(smtp_url)),
        /// Sender display name.
        from_name: String = Plain("mail.from_name", Value("Portcullis"), single_line),
        /// Sender address.
        from_address: String = Plain("mail.from_address", Unset("`no-reply@<base URL host>`"), email_address),
        /// Product name in mail subjects and bodies.
        product_name: String = Plain("mail.product_name", Value("Portcullis"), single_line),
        /// Templates overriding the built-in ones (`<kind>.subject`, `<kind>.txt`, `<kind>.html`).
        templates_dir: Option<PathBuf> = Plain("mail.templates_dir", Unset("none"), optional(path)),
    }
}

impl MailSettings {
    /// The SMTP URL, if mail is delivered (checked at load).
    pub fn smtp_url(&self) -> Option<Url> {
        self.smtp_url
            .as_ref()
            .and_then(|url| Url::parse(url.expose_secret()).ok())
    }
}

fn smtp_url(raw: &str) -> Result<SecretString, String> {
    // The text is secret (it may hold a password): errors never repeat it.
    let url = Url::parse(raw.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "smtp" | "smtps") || url.host().is_none() {
        return Err("must be smtp://[user:password@]host[:port] or smtps://...".to_owned());
    }
    Ok(SecretString::from(raw.trim().to_owned()))
}

fn email_address(raw: &str) -> Result<String, String> {
    let address = raw.trim();
    if !email_address::EmailAddress::is_valid(address) || address.chars().any(char::is_control) {
        return Err(format!("`{raw}` is not an email address"));
    }
    Ok(address.to_owned())
}

fn path(raw: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(raw.trim()))
}
