//! The two languages of the interface: Vietnamese first, English second. The choice comes
//! from `?lang=`, then the `lang` cookie it sets, then Vietnamese.

use axum::http::HeaderMap;

/// A language of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Tiếng Việt (default).
    Vi,
    /// English.
    En,
}

impl Lang {
    /// The BCP 47 tag for `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// Reads a tag; anything but `en` is Vietnamese.
    pub fn from_tag(s: &str) -> Option<Lang> {
        match s {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language remembered in the request's `lang` cookie.
    pub fn from_cookie(headers: &HeaderMap) -> Option<Lang> {
        crate::auth::cookie(headers, "lang").and_then(Lang::from_tag)
    }

    /// Picks the Vietnamese or English text.
    pub fn t<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// A date written the way readers of this language expect (dd/mm/yyyy in Vietnamese).
    pub fn date(self, d: jiff::civil::Date) -> String {
        match self {
            Lang::Vi => format!("{:02}/{:02}/{}", d.day(), d.month(), d.year()),
            Lang::En => d.strftime("%-d %b %Y").to_string(),
        }
    }

    /// A count with the thousands separator of this language (10.047 / 10,047).
    pub fn count(self, n: usize) -> String {
        let digits = n.to_string();
        let sep = self.t(".", ",");
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push_str(sep);
            }
            out.push(ch);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_dates() {
        assert_eq!(Lang::Vi.count(10047), "10.047");
        assert_eq!(Lang::En.count(3321), "3,321");
        assert_eq!(Lang::En.count(34), "34");
        let d = jiff::civil::date(2025, 7, 1);
        assert_eq!(Lang::Vi.date(d), "01/07/2025");
        assert_eq!(Lang::En.date(d), "1 Jul 2025");
    }
}
