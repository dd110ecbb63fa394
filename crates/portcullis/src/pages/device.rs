//! A readable device name from a user agent ("Firefox on Linux", "Firefox unter Linux"), for the
//! sessions page. Coarse on purpose: enough to tell one's own devices apart, nothing to
//! fingerprint with. Browser and system names are brands; the words around them come from the
//! catalogues (`device-on`, `device-on-system`, `unknown-device`).

use fluent_bundle::FluentArgs;

use crate::i18n::Catalogues;

/// What a user agent says about the device: the browser and the system, when recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    pub browser: Option<&'static str>,
    pub system: Option<&'static str>,
}

/// The browser and system a user agent names, if any.
pub fn recognise(user_agent: Option<&str>) -> Device {
    let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        return Device {
            browser: None,
            system: None,
        };
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("HeadlessChrome/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("node", "Node.js"),
    ]
    .into_iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| name);
    Device { browser, system }
}

impl Device {
    /// "Browser on System", "A browser on System", the browser alone or "Unknown device", in
    /// `language`.
    pub fn name(&self, catalogues: &Catalogues, language: &str) -> String {
        let mut args = FluentArgs::new();
        let key = match (self.browser, self.system) {
            (Some(browser), Some(system)) => {
                args.set("browser", browser);
                args.set("system", system);
                "device-on"
            }
            (Some(browser), None) => return browser.to_owned(),
            (None, Some(system)) => {
                args.set("system", system);
                "device-on-system"
            }
            (None, None) => "unknown-device",
        };
        catalogues.text(language, key, Some(&args))
    }
}

#[cfg(test)]
mod tests {
    use super::recognise;
    use crate::i18n::{settings::I18nSettings, Catalogues};

    #[test]
    fn common_agents_are_named_in_the_language_asked() {
        let catalogues = Catalogues::load(&I18nSettings {
            default_language: "en".into(),
            catalogues_dir: None,
        })
        .unwrap();
        let describe = |ua: Option<&str>, language: &str| recognise(ua).name(&catalogues, language);
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(describe(Some(firefox), "en"), "Firefox on Linux");
        assert_eq!(describe(Some(firefox), "de"), "Firefox unter Linux");
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
        assert_eq!(describe(Some(chrome), "en"), "Chrome on Windows");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(describe(Some(safari), "en"), "Safari on iOS");
        assert_eq!(describe(None, "en"), "Unknown device");
        assert_eq!(describe(None, "de"), "Unbekanntes Gerät");
        assert_eq!(
            describe(Some("Mozilla/5.0 (Linux)"), "de"),
            "Ein Browser unter Linux"
        );
        assert_eq!(describe(Some("curl/8.5.0"), "de"), "curl");
    }
}
