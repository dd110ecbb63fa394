//! The values a user shows others: a display name and an image URL.

use crate::error::{ApiError, ApiResult, ErrorCode};

const MAX_NAME_CHARS: usize = 256;
const MAX_IMAGE_CHARS: usize = 2048;

/// A display name: trimmed, 1 to 256 characters. Invisible formatting characters (bidi overrides
/// and isolates such as U+202E, zero-width joiners and spaces, the BOM) are removed, since they
/// only serve to make one name look like another or reorder what a reader sees; control
/// characters are refused (they could inject headers into a mail).
pub fn checked_name(raw: &str) -> ApiResult<String> {
    let stripped: String = raw.chars().filter(|c| !is_invisible_format(*c)).collect();
    let name = stripped.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::from(ErrorCode::InvalidName).with_message(format!(
            "Name must be 1 to {MAX_NAME_CHARS} characters, without control characters"
        )));
    }
    Ok(name.to_owned())
}

/// An image URL (http or https), bounded in size; `None` stays `None`.
pub fn checked_image(raw: Option<&str>) -> ApiResult<Option<String>> {
    let Some(image) = raw.map(str::trim).filter(|i| !i.is_empty()) else {
        return Ok(None);
    };
    let valid = image.chars().count() <= MAX_IMAGE_CHARS
        && url::Url::parse(image).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !valid {
        return Err(
            ApiError::from(ErrorCode::InvalidImage).with_message(format!(
                "Image must be an http(s) URL of at most {MAX_IMAGE_CHARS} characters"
            )),
        );
    }
    Ok(Some(image.to_owned()))
}

/// Bidi controls, zero-width characters and other invisible formatting (Unicode's Cf characters
/// that change how text reads without being seen).
pub fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}'                  // soft hyphen
        | '\u{061C}'                // Arabic letter mark
        | '\u{180E}'                // Mongolian vowel separator
        | '\u{200B}'..='\u{200F}'   // zero-width space, (non-)joiner, LRM, RLM
        | '\u{202A}'..='\u{202E}'   // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}'   // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}'   // bidi isolates
        | '\u{FEFF}'                // byte order mark
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_invisible_formatting_and_refuse_controls() {
        assert_eq!(checked_name(" Ada\u{202E}gnirts ").unwrap(), "Adagnirts");
        assert_eq!(checked_name("A\u{200B}d\u{2066}a").unwrap(), "Ada");
        assert!(checked_name("Ada\r\nBcc: x").is_err());
        assert!(
            checked_name("\u{202E}\u{200B}").is_err(),
            "nothing visible left"
        );
        assert_eq!(checked_name("Zoë Šimić 李").unwrap(), "Zoë Šimić 李");
    }
}
