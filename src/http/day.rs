//! A calendar day, `YYYY-MM-DD`, documented with the standard `date` format. poem-openapi
//! documents `time::Date` as `naive-date`, a format no OpenAPI tool knows: clients, validators
//! and generators would see any string.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;
use time::Date;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

const FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub Date);

impl Type for Day {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_date".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromParameter for Day {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Day(Date::parse(value, FORMAT)?))
    }
}

impl ParseFromJSON for Day {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => Self::parse_from_parameter(&text),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for Day {
    fn to_json(&self) -> Option<Value> {
        self.0.format(FORMAT).ok().map(Value::String)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_year_month_day() {
        let day = Day::parse_from_parameter("2026-09-02").unwrap();
        assert_eq!(day.0, time::macros::date!(2026 - 09 - 02));
        assert_eq!(day.to_json(), Some(Value::String("2026-09-02".into())));
        assert!(Day::parse_from_parameter("2026-13-01").is_err());
        assert!(Day::parse_from_json(Some(Value::from(20260902))).is_err());
    }
}
