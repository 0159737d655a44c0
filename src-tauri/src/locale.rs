//! The UI language: English or Japanese, following the OS locale.

use serde::Serialize;
use specta::Type;

/// A language the UI speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    En,
    Ja,
}

/// Picks the language from locale tags, most preferred first (BCP 47 such as
/// `ja-JP`, or POSIX such as `ja_JP.UTF-8`): the first one we speak wins, and
/// English when none is.
pub fn pick<I, S>(tags: I) -> Lang
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    for tag in tags {
        let primary = tag
            .as_ref()
            .split(['-', '_', '.', '@'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match primary.as_str() {
            "ja" => return Lang::Ja,
            "en" => return Lang::En,
            _ => {}
        }
    }
    Lang::En
}

/// The OS's language for this user.
pub fn os_lang() -> Lang {
    pick(sys_locale::get_locales())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_first_language_it_speaks() {
        assert_eq!(pick(["ja-JP", "en-US"]), Lang::Ja);
        assert_eq!(pick(["en-GB", "ja"]), Lang::En);
        assert_eq!(pick(["ja_JP.UTF-8"]), Lang::Ja);
        assert_eq!(pick(["fr-FR", "ja"]), Lang::Ja);
        assert_eq!(pick(["de-DE"]), Lang::En);
        assert_eq!(pick(Vec::<String>::new()), Lang::En);
        assert_eq!(pick(["C"]), Lang::En);
    }
}
