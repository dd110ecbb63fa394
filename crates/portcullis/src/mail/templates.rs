//! Mail templates: text and HTML for each kind of message, built in and overridable from
//! `mail.templates_dir` (files named `<kind>.subject`, `<kind>.txt`, `<kind>.html`). HTML is
//! auto-escaped, so a user's name can never inject markup.

use std::path::Path;
use std::sync::Arc;

use minijinja::value::Serde;
use minijinja::Environment;
use serde::Serialize;

use crate::i18n::Catalogues;

/// What a message is about; each kind has its three templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    VerifyEmail,
    ResetPassword,
    PasswordChanged,
    ChangeEmailConfirm,
    ChangeEmailNotice,
    SignUpExisting,
    OrganizationInvitation,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::VerifyEmail,
        Kind::ResetPassword,
        Kind::PasswordChanged,
        Kind::ChangeEmailConfirm,
        Kind::ChangeEmailNotice,
        Kind::SignUpExisting,
        Kind::OrganizationInvitation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::VerifyEmail => "verify_email",
            Kind::ResetPassword => "reset_password",
            Kind::PasswordChanged => "password_changed",
            Kind::ChangeEmailConfirm => "change_email_confirm",
            Kind::ChangeEmailNotice => "change_email_notice",
            Kind::SignUpExisting => "sign_up_existing",
            Kind::OrganizationInvitation => "organization_invitation",
        }
    }

    fn built_in(self, part: &str) -> &'static str {
        macro_rules! parts {
            ($name:literal) => {
                match part {
                    "subject" => include_str!(concat!("templates/", $name, ".subject")),
                    "txt" => include_str!(concat!("templates/", $name, ".txt")),
                    _ => include_str!(concat!("templates/", $name, ".html")),
                }
            };
        }
        match self {
            Kind::VerifyEmail => parts!("verify_email"),
            Kind::ResetPassword => parts!("reset_password"),
            Kind::PasswordChanged => parts!("password_changed"),
            Kind::ChangeEmailConfirm => parts!("change_email_confirm"),
            Kind::ChangeEmailNotice => parts!("change_email_notice"),
            Kind::SignUpExisting => parts!("sign_up_existing"),
            Kind::OrganizationInvitation => parts!("organization_invitation"),
        }
    }
}

/// What templates may use.
#[derive(Debug, Serialize)]
pub struct Context<'a> {
    pub product: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub new_email: Option<&'a str>,
    /// Always built from the configured base URL.
    pub link: Option<&'a str>,
    pub expires_in: Option<String>,
    /// Invitations: the organization's name, who invited, and the invitation id.
    pub organization: Option<&'a str>,
    pub inviter: Option<&'a str>,
    pub code: Option<&'a str>,
}

pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Templates {
    env: Environment<'static>,
    catalogues: Arc<Catalogues>,
}

impl Templates {
    /// Loads every template, preferring files in `dir`; a broken override stops start-up. Their
    /// text comes from the catalogues (`t("mail-...")`), in the language `render` is given.
    pub fn load(dir: Option<&Path>, catalogues: Arc<Catalogues>) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        crate::i18n::add_function(&mut env, Arc::clone(&catalogues));
        for kind in Kind::ALL {
            for part in ["subject", "txt", "html"] {
                let name = format!("{}.{part}", kind.as_str());
                let source = match dir.map(|d| d.join(&name)).filter(|p| p.exists()) {
                    Some(path) => std::fs::read_to_string(&path).map_err(|e| {
                        anyhow::anyhow!("mail.templates_dir: cannot read {}: {e}", path.display())
                    })?,
                    None => kind.built_in(part).to_owned(),
                };
                env.add_template_owned(name.clone(), source)
                    .map_err(|e| anyhow::anyhow!("mail.templates_dir: template {name}: {e}"))?;
            }
        }
        Ok(Self { env, catalogues })
    }

    /// The message of `kind` in `language` (a language the catalogues chose).
    pub fn render(
        &self,
        kind: Kind,
        context: &Context<'_>,
        language: &str,
    ) -> anyhow::Result<Rendered> {
        let expires = context
            .expires_in
            .as_deref()
            .map(|text| self.localised_duration(text, language));
        let values = minijinja::context! {
            lang => language,
            expires => expires,
            ..minijinja::Value::from(Serde(context))
        };
        let render = |part: &str| -> anyhow::Result<String> {
            let name = format!("{}.{part}", kind.as_str());
            Ok(self.env.get_template(&name)?.render(&values)?)
        };
        // A subject is one line whatever a template does.
        let subject = render("subject")?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Rendered {
            subject,
            text: render("txt")?,
            html: render("html")?,
        })
    }
}

impl Templates {
    /// `expires_in` ("24 hours", "15 minutes", from `mail::human_duration`) in `language`, with
    /// its plural rules; as given if it has another shape.
    fn localised_duration(&self, text: &str, language: &str) -> String {
        let parsed = text.split_once(' ').and_then(|(n, unit)| {
            let key = match unit.trim_end_matches('s') {
                "hour" => "duration-hours",
                "minute" => "duration-minutes",
                _ => return None,
            };
            Some((n.parse::<u64>().ok()?, key))
        });
        let Some((n, key)) = parsed else {
            return text.to_owned();
        };
        let mut args = fluent_bundle::FluentArgs::new();
        args.set("n", n);
        self.catalogues
            .message(language, key, Some(&args))
            .unwrap_or_else(|| text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogues() -> Arc<Catalogues> {
        let settings = crate::i18n::settings::I18nSettings {
            default_language: "en".into(),
            catalogues_dir: None,
        };
        Arc::new(Catalogues::load(&settings).unwrap())
    }

    #[test]
    fn html_is_escaped_and_subjects_are_one_line() {
        let templates = Templates::load(None, catalogues()).unwrap();
        let rendered = templates
            .render(
                Kind::VerifyEmail,
                &Context {
                    product: "Acme",
                    name: "<script>alert(1)</script>",
                    email: "a@example.com",
                    new_email: None,
                    link: Some("https://auth.example.com/api/auth/verify-email?token=abc"),
                    expires_in: Some("24 hours".into()),
                    organization: None,
                    inviter: None,
                    code: None,
                },
                "en",
            )
            .unwrap();
        assert_eq!(rendered.subject, "Confirm your email for Acme");
        assert!(rendered.html.contains("&lt;script&gt;"));
        assert!(!rendered.html.contains("<script>"));
        assert!(rendered
            .text
            .contains("https://auth.example.com/api/auth/verify-email?token=abc"));
    }

    #[test]
    fn files_in_the_templates_dir_override_built_ins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("verify_email.subject"),
            "Welcome to {{ product }}!",
        )
        .unwrap();
        let templates = Templates::load(Some(dir.path()), catalogues()).unwrap();
        let context = Context {
            product: "Acme",
            name: "Ada",
            email: "a@example.com",
            new_email: None,
            link: None,
            expires_in: None,
            organization: None,
            inviter: None,
            code: None,
        };
        assert_eq!(
            templates
                .render(Kind::VerifyEmail, &context, "en")
                .unwrap()
                .subject,
            "Welcome to Acme!"
        );
        std::fs::write(dir.path().join("reset_password.txt"), "{% if %}").unwrap();
        assert!(
            Templates::load(Some(dir.path()), catalogues()).is_err(),
            "a broken override stops start-up"
        );
    }
}
