//! Values our tokens carry, parsed once: scopes and the identity level.
//!
//! They live with the tokens rather than with the clients because both the tokens and the
//! clients (registered for scopes) use them, and the clients already build on the tokens.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of OAuth scopes (RFC 6749 §3.3), in the order first given, without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

/// A scope asked for that the client may not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope `{0}` is not allowed for this client")]
pub struct UnknownScope(pub String);

impl Scopes {
    /// A space-separated `scope` parameter or claim; extra spaces are ignored.
    pub fn parse(text: &str) -> Self {
        Self::from_list(text.trim().split(' '))
    }

    /// Scopes from a list (a registration, command-line arguments).
    pub fn from_list<S: AsRef<str>>(list: impl IntoIterator<Item = S>) -> Self {
        let mut scopes: Vec<String> = Vec::new();
        for scope in list {
            let scope = scope.as_ref();
            if !scope.is_empty() && !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_string());
            }
        }
        Scopes(scopes)
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// What a client holding these scopes gets when it asks for `requested`: all of them when
    /// it names none, else exactly those it named, provided it holds each (the first it does
    /// not hold is the error).
    pub fn narrow_to(&self, requested: &Scopes) -> Result<Scopes, UnknownScope> {
        if requested.is_empty() {
            return Ok(self.clone());
        }
        match requested.iter().find(|s| !self.contains(s)) {
            Some(unknown) => Err(UnknownScope(unknown.to_string())),
            None => Ok(requested.clone()),
        }
    }

    /// These scopes less those not in `allowed` (a registration narrowed since).
    pub fn within(&self, allowed: &Scopes) -> Scopes {
        Scopes(
            self.0
                .iter()
                .filter(|s| allowed.contains(s))
                .cloned()
                .collect(),
        )
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// The identity level of a sign-in, as the national eID asserts it: 1 (basic) or 2 (verified
/// in person or with a chip). It is the `acr` of our tokens ("1" or "2") and the `level` of
/// sessions and citizens (a smallint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, sqlx::Type)]
#[repr(i16)]
pub enum Level {
    One = 1,
    Two = 2,
}

impl Level {
    /// An `acr` value: "1" or "2".
    pub fn from_acr(acr: &str) -> Option<Self> {
        match acr {
            "1" => Some(Level::One),
            "2" => Some(Level::Two),
            _ => None,
        }
    }

    pub fn acr(self) -> &'static str {
        match self {
            Level::One => "1",
            Level::Two => "2",
        }
    }

    pub fn as_i16(self) -> i16 {
        self as i16
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.acr())
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.acr())
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let acr = String::deserialize(deserializer)?;
        Level::from_acr(&acr)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown identity level `{acr}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_without_blanks_or_repeats() {
        let scopes = Scopes::parse("  openid  profile openid ");
        assert_eq!(scopes.to_string(), "openid profile");
        assert!(scopes.contains("profile"));
        assert!(!scopes.contains("prof"));
        assert!(Scopes::parse(" ").is_empty());
        assert_eq!(Scopes::from_list(["a", "", "b", "a"]).to_string(), "a b");
    }

    #[test]
    fn narrowing_grants_what_was_asked_for_and_held() {
        let held = Scopes::parse("openid profile offline_access");
        assert_eq!(held.narrow_to(&Scopes::default()), Ok(held.clone()));
        assert_eq!(
            held.narrow_to(&Scopes::parse("profile openid profile"))
                .map(|s| s.to_string()),
            Ok("profile openid".to_string())
        );
        assert_eq!(
            held.narrow_to(&Scopes::parse("openid ops account")),
            Err(UnknownScope("ops".into()))
        );
        assert_eq!(
            Scopes::parse("openid ops profile")
                .within(&held)
                .to_string(),
            "openid profile"
        );
    }

    #[test]
    fn levels_are_acr_strings_in_tokens() {
        assert_eq!(serde_json::to_string(&Level::Two).unwrap(), "\"2\"");
        assert_eq!(serde_json::from_str::<Level>("\"1\"").unwrap(), Level::One);
        assert!(serde_json::from_str::<Level>("\"3\"").is_err());
        assert_eq!(Level::Two.as_i16(), 2);
    }
}
