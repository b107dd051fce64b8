//! The languages mail (and the pages) are written in, and how a request
//! names one: a `locale` field, an `Accept-Language` header, or nothing
//! (then `mail.default_locale`).

use std::fmt;

/// A language the built-in templates exist in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Locale {
    En,
    /// Simplified Chinese.
    ZhCn,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::En, Locale::ZhCn];

    /// Its tag, as templates directories and the gRPC field spell it.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
        }
    }

    /// A BCP 47 tag (any case, `-` or `_`): `en`, `en-GB` → English;
    /// `zh`, `zh-CN`, `zh-Hans`, `zh-SG` → Simplified Chinese. Traditional
    /// Chinese (`zh-TW`, `zh-HK`, `zh-MO`, `zh-Hant`) and anything else is
    /// none of ours.
    pub fn parse(tag: &str) -> Option<Locale> {
        let tag = tag.trim().to_ascii_lowercase().replace('_', "-");
        let mut subtags = tag.split('-');
        match subtags.next()? {
            "en" => Some(Locale::En),
            "zh" => {
                let traditional =
                    subtags.any(|subtag| matches!(subtag, "hant" | "tw" | "hk" | "mo"));
                (!traditional).then_some(Locale::ZhCn)
            }
            _ => None,
        }
    }

    /// The most preferred of ours in an `Accept-Language` header (`q`
    /// weights honoured, `q=0` meaning "not this"); `None` when it names
    /// none of ours.
    pub fn from_accept_language(header: &str) -> Option<Locale> {
        let mut ranked: Vec<(f32, usize, Locale)> = header
            .split(',')
            .enumerate()
            .filter_map(|(position, item)| {
                let mut parts = item.split(';');
                let locale = Locale::parse(parts.next()?)?;
                let weight = parts
                    .filter_map(|parameter| {
                        let (name, value) = parameter.split_once('=')?;
                        name.trim().eq_ignore_ascii_case("q").then(|| value.trim())
                    })
                    .map(|q| q.parse::<f32>().unwrap_or(-1.0))
                    .next()
                    .unwrap_or(1.0);
                // A weight outside 0..=1 (`1e9`, `inf`, garbage) is no
                // weight at all: the item is ignored.
                (weight > 0.0 && weight <= 1.0).then_some((weight, position, locale))
            })
            .collect();
        // Highest weight first; among equals, the header's order.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.first().map(|(_, _, locale)| *locale)
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_in_any_spelling() {
        for (tag, locale) in [
            ("en", Some(Locale::En)),
            ("EN-gb", Some(Locale::En)),
            ("zh", Some(Locale::ZhCn)),
            ("zh-CN", Some(Locale::ZhCn)),
            ("zh_cn", Some(Locale::ZhCn)),
            ("zh-Hans-SG", Some(Locale::ZhCn)),
            ("zh-TW", None),
            ("zh-Hant", None),
            ("fr", None),
            ("", None),
            ("*", None),
        ] {
            assert_eq!(Locale::parse(tag), locale, "{tag:?}");
        }
    }

    #[test]
    fn accept_language_picks_the_most_preferred_of_ours() {
        for (header, locale) in [
            ("zh-CN,zh;q=0.9,en;q=0.8", Some(Locale::ZhCn)),
            ("en-US,en;q=0.9,zh-CN;q=0.8", Some(Locale::En)),
            ("fr-FR, zh;q=0.5, en;q=0.7", Some(Locale::En)),
            ("fr-FR, de;q=0.5", None),
            ("en;q=0, zh", Some(Locale::ZhCn)),
            ("zh-TW, en;q=0.1", Some(Locale::En)),
            ("zh;q=0.8, en;q=0.8", Some(Locale::ZhCn)),
            ("*", None),
            ("", None),
            ("en;q=garbage, zh;q=0.2", Some(Locale::ZhCn)),
            ("zh;Q=0, en;q=0.5", Some(Locale::En)),
            ("en;q=1e9, zh;q=0.5", Some(Locale::ZhCn)),
            ("en;q=inf, zh;q=NaN", None),
        ] {
            assert_eq!(Locale::from_accept_language(header), locale, "{header:?}");
        }
    }
}
