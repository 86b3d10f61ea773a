//! The parameters whose document lists the values clients must send while parsing takes any
//! string, so the handlers answer an unexpected value with the RFC 6749 error it deserves.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};

/// Declares a string parameter whose document states the values (or shape) clients must send,
/// while parsing takes any string: the handlers then answer a value outside that set with the
/// RFC 6749 error the endpoint owes (`unsupported_grant_type`, a redirect with
/// `unsupported_response_type`, ...), not with the generic 400 a strict parser would raise.
macro_rules! documented_string {
    ($(#[$doc:meta])* $name:ident, |$schema:ident| $shape:block) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = String;
            type RawElementValueType = String;

            fn name() -> Cow<'static, str> {
                "string".into()
            }

            fn schema_ref() -> MetaSchemaRef {
                let mut $schema = MetaSchema::new("string");
                $shape
                MetaSchemaRef::Inline(Box::new($schema))
            }

            fn as_raw_value(&self) -> Option<&String> {
                Some(&self.0)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }

        impl ParseFromJSON for $name {
            fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
                String::parse_from_json(value)
                    .map(Self)
                    .map_err(ParseError::propagate)
            }
        }

        impl ParseFromParameter for $name {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                Ok(Self(value.to_string()))
            }
        }

        impl ToJSON for $name {
            fn to_json(&self) -> Option<serde_json::Value> {
                Some(serde_json::Value::String(self.0.clone()))
            }
        }
    };
}

fn one_of(schema: &mut MetaSchema, values: &[&str]) {
    schema.enum_items = values.iter().map(|v| serde_json::json!(v)).collect();
    schema.example = values.first().map(|v| serde_json::json!(v));
}

documented_string!(
    /// `grant_type` of a token request: the grants we issue tokens for.
    GrantType,
    |schema| {
        one_of(
            &mut schema,
            &["authorization_code", "refresh_token", "client_credentials"],
        );
    }
);

documented_string!(
    /// `response_type` of an authorization request: only the code flow.
    ResponseType,
    |schema| {
        one_of(&mut schema, &["code"]);
    }
);

documented_string!(
    /// `code_challenge_method`: only S256; `plain` is refused.
    CodeChallengeMethod,
    |schema| {
        one_of(&mut schema, &["S256"]);
    }
);

documented_string!(
    /// `token_type_hint` of RFC 7009 and RFC 7662.
    TokenTypeHint,
    |schema| {
        one_of(&mut schema, &["access_token", "refresh_token"]);
    }
);

documented_string!(
    /// `client_assertion_type` of RFC 7523 client authentication.
    ClientAssertionType,
    |schema| {
        one_of(
            &mut schema,
            &[crate::oauth::assertion::ASSERTION_TYPE],
        );
    }
);

documented_string!(
    /// A PKCE code verifier or challenge (RFC 7636 §4.1, §4.2).
    PkceValue,
    |schema| {
        schema.min_length = Some(43);
        schema.max_length = Some(128);
        schema.pattern = Some("^[A-Za-z0-9._~-]{43,128}$".into());
        schema.example = Some(serde_json::json!(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGlSstw-cM"
        ));
    }
);
