//! Language negotiation for messages shown to people (`Accept-Language`).

/// The languages our message catalogue is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Vi,
}

impl Lang {
    /// Picks the best supported language from an `Accept-Language` header (RFC 9110 §12.5.4),
    /// English when nothing we speak is asked for.
    pub fn negotiate(header: Option<&str>) -> Lang {
        let Some(header) = header else {
            return Lang::En;
        };
        let mut best = (Lang::En, 0.0_f32);
        for item in header.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q=").map(str::to_string))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let lang = match primary {
                "vi" => Lang::Vi,
                "en" => Lang::En,
                _ => continue,
            };
            if q > best.1 {
                best = (lang, q);
            }
        }
        best.0
    }

    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Vi => "vi",
        }
    }
}

/// One message in every language we speak. `{name}` placeholders are filled from arguments.
#[derive(Debug, Clone, Copy)]
pub struct Text {
    pub en: &'static str,
    pub vi: &'static str,
}

impl Text {
    pub fn get(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::En => self.en,
            Lang::Vi => self.vi,
        }
    }

    /// The message in `lang` with each `{name}` replaced by its argument.
    pub fn render(&self, lang: Lang, args: &[(&'static str, String)]) -> String {
        let mut text = self.get(lang).to_string();
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_vietnamese_and_falls_back_to_english() {
        assert_eq!(Lang::negotiate(Some("vi")), Lang::Vi);
        assert_eq!(Lang::negotiate(Some("vi-VN,vi;q=0.9,en;q=0.8")), Lang::Vi);
        assert_eq!(Lang::negotiate(Some("en;q=0.9, vi;q=0.5")), Lang::En);
        assert_eq!(Lang::negotiate(Some("fr, de")), Lang::En);
        assert_eq!(Lang::negotiate(Some("fr, vi;q=0.1")), Lang::Vi);
        assert_eq!(Lang::negotiate(None), Lang::En);
        assert_eq!(Lang::negotiate(Some(";;;,q=")), Lang::En);
    }

    #[test]
    fn fills_placeholders() {
        let text = Text {
            en: "{what} is down",
            vi: "{what} không hoạt động",
        };
        let args = [("what", "redis".to_string())];
        assert_eq!(text.render(Lang::En, &args), "redis is down");
        assert_eq!(text.render(Lang::Vi, &args), "redis không hoạt động");
    }
}
