//! String parameters with a documented shape (`maxLength`, `pattern`) whose regex is compiled
//! once.
//!
//! poem-openapi's own `pattern` validator compiles its regex on every check: on a citizen's
//! cached dossier that was half of the request's instructions (`load-tests/bench`, callgrind). A
//! [`Shaped`] parameter states the same schema in the document, accepts and refuses the same
//! values, and answers a refused one with the same 400 problem naming the parameter. Its
//! detail differs only by the prefix poem-openapi puts on every parse error
//! (`failed to parse "string": verification failed. pattern("…")`).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult, Type};
pub use regex::Regex;

/// A string's shape: its longest length (in characters) and the pattern it must match.
pub trait Shape: Send + Sync + 'static {
    const MAX_LENGTH: Option<usize>;
    /// Anchored (`^…$`), as the document states it.
    const PATTERN: &'static str;
    /// [`Self::PATTERN`], compiled once.
    fn regex() -> &'static Regex;
}

/// Declares a [`Shape`]: `shape!(Name, max_length = 64, pattern = r"^…$");` (`max_length` is
/// optional).
#[macro_export]
macro_rules! shape {
    ($(#[$doc:meta])* $name:ident, pattern = $pattern:literal) => {
        $crate::shape!(@ $(#[$doc])* $name, None, $pattern);
    };
    ($(#[$doc:meta])* $name:ident, max_length = $max:expr, pattern = $pattern:literal) => {
        $crate::shape!(@ $(#[$doc])* $name, Some($max), $pattern);
    };
    (@ $(#[$doc:meta])* $name:ident, $max:expr, $pattern:literal) => {
        $(#[$doc])*
        pub enum $name {}

        impl $crate::http::shaped::Shape for $name {
            const MAX_LENGTH: Option<usize> = $max;
            const PATTERN: &'static str = $pattern;

            fn regex() -> &'static $crate::http::shaped::Regex {
                static REGEX: std::sync::LazyLock<$crate::http::shaped::Regex> =
                    std::sync::LazyLock::new(|| $crate::http::shaped::compile($pattern));
                &REGEX
            }
        }
    };
}

/// A constant pattern's regex. A malformed one is a programming error, caught by the test each
/// module that declares a shape runs ([`Shape::regex`] on it); were it to reach a server, every
/// request with that parameter would fail (a panic, answered 500) rather than let values
/// through unchecked.
#[doc(hidden)]
#[allow(clippy::expect_used)]
pub fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a shape's pattern is a valid regex")
}

/// A string of shape `S`, checked when the parameter is parsed.
pub struct Shaped<S>(String, PhantomData<S>);

impl<S> Shaped<S> {
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl<S> Deref for Shaped<S> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<S> fmt::Display for Shaped<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<S> fmt::Debug for Shaped<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<S: Shape> Shaped<S> {
    /// The value, or the message poem-openapi's `maxLength`/`pattern` validators gave (the
    /// parameter's parse error adds poem-openapi's prefix to it).
    pub fn parse(value: &str) -> Result<Self, String> {
        if let Some(max) = S::MAX_LENGTH
            && value.chars().nth(max).is_some()
        {
            return Err(format!("verification failed. maxLength({max})"));
        }
        if !S::regex().is_match(value) {
            return Err(format!("verification failed. pattern(\"{}\")", S::PATTERN));
        }
        Ok(Self(value.to_string(), PhantomData))
    }
}

/// A `String` to poem-openapi, with the shape's `maxLength` and `pattern` in its schema.
impl<S: Shape> Type for Shaped<S> {
    const IS_REQUIRED: bool = <String as Type>::IS_REQUIRED;
    type RawValueType = <String as Type>::RawValueType;
    type RawElementValueType = <String as Type>::RawElementValueType;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        schema.max_length = S::MAX_LENGTH;
        schema.pattern = Some(S::PATTERN.to_string());
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&String> {
        self.0.as_raw_value()
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        self.0.raw_element_iter()
    }
}

impl<S: Shape> ParseFromParameter for Shaped<S> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::parse(value).map_err(ParseError::custom)
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::validation::{MaxLength, Pattern, Validator};

    use super::*;

    crate::shape!(Code, max_length = 8, pattern = r"^[A-Z]{2}-[0-9]+$");
    crate::shape!(Digits, pattern = r"^[0-9]+$");

    /// What poem-openapi's validators would say of `value`, in the order they run.
    fn validators(value: &str) -> Result<(), String> {
        let (max, pattern) = (MaxLength::new(8), Pattern::new(Code::PATTERN));
        if !Validator::<String>::check(&max, &value.to_string()) {
            return Err(format!("verification failed. {max}"));
        }
        if !Validator::<String>::check(&pattern, &value.to_string()) {
            return Err(format!("verification failed. {pattern}"));
        }
        Ok(())
    }

    #[test]
    fn accepts_and_refuses_as_the_validators_did_with_their_messages() {
        for value in [
            "AB-1",
            "AB-123456",
            "AB-12345",
            "ab-1",
            "AB-",
            "",
            "ẠB-1",
            "AB-1\n",
            "XAB-1",
        ] {
            let ours = Shaped::<Code>::parse(value).map(|_| ());
            assert_eq!(ours, validators(value), "{value:?}");
        }
    }

    #[test]
    fn the_document_states_the_shape() {
        let MetaSchemaRef::Inline(schema) = Shaped::<Code>::schema_ref() else {
            panic!("an inline schema");
        };
        assert_eq!(schema.ty, "string");
        assert_eq!(schema.max_length, Some(8));
        assert_eq!(schema.pattern.as_deref(), Some(Code::PATTERN));
        let MetaSchemaRef::Inline(schema) = Shaped::<Digits>::schema_ref() else {
            panic!("an inline schema");
        };
        assert_eq!(schema.max_length, None);
        assert_eq!(Shaped::<Digits>::parse("123456").map(|_| ()), Ok(()));
    }
}
