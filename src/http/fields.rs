//! Which fields of a rejected request body are wrong, and why.
//!
//! poem-openapi refuses a body that does not parse into the operation's type with one English
//! sentence that names the type, not the field. The request pipeline asks [`BodySchemas`] to walk
//! the body against the operation's schema in our own OpenAPI document, so the problem's
//! `errors[]` points at each offending field (`/revised_due_at`, `/items/3/applicant_name`) in the
//! caller's language.

use http::Method;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;

use super::lang::Text;

/// A field of a body, as a JSON Pointer, with what is wrong with it.
#[derive(Debug, Clone)]
pub struct FieldIssue {
    pub pointer: String,
    pub text: Text,
    pub args: Vec<(&'static str, String)>,
}

const REQUIRED: Text = Text {
    en: "is required",
    vi: "là bắt buộc",
};
const TYPE: Text = Text {
    en: "must be of type {type}",
    vi: "phải có kiểu {type}",
};
const DATE_TIME: Text = Text {
    en: "must be a date and time in RFC 3339 form, such as 2026-05-04T09:00:00+07:00",
    vi: "phải là ngày giờ theo RFC 3339, ví dụ 2026-05-04T09:00:00+07:00",
};
const DATE: Text = Text {
    en: "must be a date in the form YYYY-MM-DD",
    vi: "phải là ngày theo dạng YYYY-MM-DD",
};
const FORMAT: Text = Text {
    en: "must be in the {format} format",
    vi: "phải đúng định dạng {format}",
};
const ENUM: Text = Text {
    en: "must be one of: {values}",
    vi: "phải là một trong các giá trị: {values}",
};
const MAX_LENGTH: Text = Text {
    en: "must be at most {max} characters",
    vi: "tối đa {max} ký tự",
};
const MIN_LENGTH: Text = Text {
    en: "must be at least {min} characters",
    vi: "tối thiểu {min} ký tự",
};
const MAXIMUM: Text = Text {
    en: "must be at most {max}",
    vi: "không được lớn hơn {max}",
};
const MINIMUM: Text = Text {
    en: "must be at least {min}",
    vi: "không được nhỏ hơn {min}",
};
const MAX_ITEMS: Text = Text {
    en: "must have at most {max} items",
    vi: "tối đa {max} phần tử",
};
const MIN_ITEMS: Text = Text {
    en: "must have at least {min} items",
    vi: "tối thiểu {min} phần tử",
};
const UNKNOWN: Text = Text {
    en: "is not a field of this request",
    vi: "không phải là trường của yêu cầu này",
};
/// A field poem-openapi named in its own words, when the schema walk found nothing more exact.
pub const INVALID: Text = Text {
    en: "is invalid",
    vi: "không hợp lệ",
};

/// The request-body schemas of every operation, taken from the OpenAPI document once.
#[derive(Debug, Default)]
pub struct BodySchemas {
    operations: Vec<Operation>,
    components: Map<String, Value>,
}

#[derive(Debug)]
enum Segment {
    Text(String),
    Param(String),
}

#[derive(Debug)]
struct Operation {
    method: Method,
    /// The path's segments: text, or the name of a `{parameter}`.
    segments: Vec<Segment>,
    schema: Value,
}

impl BodySchemas {
    /// From the OpenAPI document (JSON); an unreadable one gives no schemas, never an error.
    pub fn from_openapi(spec: &str) -> Self {
        let Ok(spec) = serde_json::from_str::<Value>(spec) else {
            return Self::default();
        };
        let mut operations = Vec::new();
        for (path, item) in spec["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else {
                    continue;
                };
                let content = op["requestBody"]["content"].as_object();
                let json = content
                    .into_iter()
                    .flatten()
                    .find(|(t, _)| t.contains("json"));
                operations.push(Operation {
                    method,
                    segments: path
                        .split('/')
                        .map(
                            |s| match s.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                                Some(name) => Segment::Param(name.to_string()),
                                None => Segment::Text(s.to_string()),
                            },
                        )
                        .collect(),
                    schema: json
                        .map(|(_, media)| media["schema"].clone())
                        .unwrap_or_default(),
                });
            }
        }
        let components = spec["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        Self {
            operations,
            components,
        }
    }

    /// The fields of `body` that do not fit the schema of the operation at `method` `path`.
    pub fn locate(&self, method: &Method, path: &str, body: &[u8]) -> Vec<FieldIssue> {
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return Vec::new();
        };
        let mut issues = Vec::new();
        if let Some(op) = self.operation(method, path) {
            self.check(&value, &op.schema, "", &mut issues, 0);
        }
        issues
    }

    /// The documented name of a path parameter poem-openapi calls by its position (`param0`,
    /// `param1`…) when its value does not parse.
    pub fn path_param(&self, method: &Method, path: &str, internal: &str) -> Option<String> {
        let position: usize = internal.strip_prefix("param")?.parse().ok()?;
        let op = self.operation(method, path)?;
        let mut params = op.segments.iter().filter_map(|s| match s {
            Segment::Param(name) => Some(name.clone()),
            Segment::Text(_) => None,
        });
        params.nth(position)
    }

    fn operation(&self, method: &Method, path: &str) -> Option<&Operation> {
        let segments: Vec<&str> = path.split('/').collect();
        self.operations.iter().find(|op| {
            op.method == *method
                && op.segments.len() == segments.len()
                && op
                    .segments
                    .iter()
                    .zip(&segments)
                    .all(|(want, got)| match want {
                        Segment::Text(text) => text == got,
                        Segment::Param(_) => true,
                    })
        })
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(r) => r
                .strip_prefix("#/components/schemas/")
                .and_then(|name| self.components.get(name))
                .unwrap_or(&Value::Null),
            None => schema,
        }
    }

    fn check(&self, v: &Value, schema: &Value, at: &str, out: &mut Vec<FieldIssue>, depth: u8) {
        let s = self.resolve(schema);
        // A null is an absent value to poem-openapi; whether it may be absent is the parent's
        // concern (`required`).
        if v.is_null() || depth > 32 {
            return;
        }
        for part in s["allOf"].as_array().into_iter().flatten() {
            self.check(v, part, at, out, depth + 1);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(choices) = s[key].as_array() {
                let tries: Vec<Vec<FieldIssue>> = choices
                    .iter()
                    .map(|c| {
                        let mut found = Vec::new();
                        self.check(v, c, at, &mut found, depth + 1);
                        found
                    })
                    .collect();
                if tries.iter().all(|t| !t.is_empty()) {
                    out.extend(tries.into_iter().next().unwrap_or_default());
                }
            }
        }
        if let Some(values) = s["enum"].as_array()
            && !values.contains(v)
        {
            let names: Vec<String> = values
                .iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect();
            out.push(issue(at, ENUM, vec![("values", names.join(", "))]));
            return;
        }
        match s["type"].as_str().unwrap_or_default() {
            "object" => self.check_object(v, s, at, out, depth),
            "array" => self.check_array(v, s, at, out, depth),
            "string" => check_string(v, s, at, out),
            "integer" => check_integer(v, s, at, out),
            "number" => check_number(v, s, at, out, "number"),
            "boolean" if !v.is_boolean() => out.push(type_issue(at, "boolean")),
            _ => {}
        }
    }

    fn check_object(&self, v: &Value, s: &Value, at: &str, out: &mut Vec<FieldIssue>, depth: u8) {
        let Some(fields) = v.as_object() else {
            out.push(type_issue(at, "object"));
            return;
        };
        for name in s["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if fields.get(name).is_none_or(Value::is_null) {
                out.push(issue(&child(at, name), REQUIRED, Vec::new()));
            }
        }
        let properties = s["properties"].as_object();
        for (name, value) in fields {
            match properties.and_then(|p| p.get(name)) {
                Some(field) => self.check(value, field, &child(at, name), out, depth + 1),
                None => match &s["additionalProperties"] {
                    Value::Bool(false) => out.push(issue(&child(at, name), UNKNOWN, Vec::new())),
                    extra @ Value::Object(_) => {
                        self.check(value, extra, &child(at, name), out, depth + 1)
                    }
                    _ => {}
                },
            }
        }
    }

    fn check_array(&self, v: &Value, s: &Value, at: &str, out: &mut Vec<FieldIssue>, depth: u8) {
        let Some(items) = v.as_array() else {
            out.push(type_issue(at, "array"));
            return;
        };
        bound(out, at, items.len() as f64, &s["maxItems"], MAX_ITEMS, true);
        bound(
            out,
            at,
            items.len() as f64,
            &s["minItems"],
            MIN_ITEMS,
            false,
        );
        for (i, item) in items.iter().enumerate() {
            self.check(item, &s["items"], &format!("{at}/{i}"), out, depth + 1);
        }
    }
}

fn check_string(v: &Value, s: &Value, at: &str, out: &mut Vec<FieldIssue>) {
    // poem-openapi takes a number or a boolean for a plain string, as its text.
    let text = match v {
        Value::String(text) => text.clone(),
        Value::Number(_) | Value::Bool(_) if s["format"].is_null() => v.to_string(),
        _ => {
            out.push(type_issue(at, "string"));
            return;
        }
    };
    let text = text.as_str();
    let format_ok = match s["format"].as_str() {
        Some("date-time") => time::OffsetDateTime::parse(text, &Rfc3339).is_ok(),
        Some("date") => {
            let f = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(text, f).is_ok()
        }
        Some("uuid") => uuid::Uuid::parse_str(text).is_ok(),
        _ => true,
    };
    if !format_ok {
        let (text, args) = match s["format"].as_str().unwrap_or_default() {
            "date-time" => (DATE_TIME, Vec::new()),
            "date" => (DATE, Vec::new()),
            other => (FORMAT, vec![("format", other.to_string())]),
        };
        out.push(issue(at, text, args));
        return;
    }
    let chars = text.chars().count() as f64;
    bound(out, at, chars, &s["maxLength"], MAX_LENGTH, true);
    bound(out, at, chars, &s["minLength"], MIN_LENGTH, false);
}

fn check_integer(v: &Value, s: &Value, at: &str, out: &mut Vec<FieldIssue>) {
    if !(v.is_i64() || v.is_u64()) {
        out.push(type_issue(at, "integer"));
        return;
    }
    // The range of the Rust type behind the format (`int32`, `uint16`…).
    let (min, max): (f64, f64) = match s["format"].as_str().unwrap_or_default() {
        "int8" => (i8::MIN.into(), i8::MAX.into()),
        "int16" => (i16::MIN.into(), i16::MAX.into()),
        "int32" => (i32::MIN.into(), i32::MAX.into()),
        "uint8" => (0.0, u8::MAX.into()),
        "uint16" => (0.0, u16::MAX.into()),
        "uint32" => (0.0, u32::MAX.into()),
        "uint64" => (0.0, f64::MAX),
        _ => (f64::MIN, f64::MAX),
    };
    let n = v.as_f64().unwrap_or_default();
    if n < min || n > max {
        let name = s["format"].as_str().unwrap_or("integer").to_string();
        out.push(issue(at, TYPE, vec![("type", name)]));
        return;
    }
    check_number(v, s, at, out, "integer");
}

fn check_number(v: &Value, s: &Value, at: &str, out: &mut Vec<FieldIssue>, ty: &str) {
    let Some(n) = v.as_f64() else {
        out.push(type_issue(at, ty));
        return;
    };
    bound(out, at, n, &s["maximum"], MAXIMUM, true);
    bound(out, at, n, &s["minimum"], MINIMUM, false);
}

/// Adds an issue when `n` passes the `limit` (from above when `upper`).
fn bound(out: &mut Vec<FieldIssue>, at: &str, n: f64, limit: &Value, text: Text, upper: bool) {
    let Some(limit_n) = limit.as_f64() else {
        return;
    };
    if (upper && n > limit_n) || (!upper && n < limit_n) {
        let name = if upper { "max" } else { "min" };
        out.push(issue(at, text, vec![(name, limit.to_string())]));
    }
}

fn type_issue(at: &str, ty: &str) -> FieldIssue {
    issue(at, TYPE, vec![("type", ty.to_string())])
}

fn issue(at: &str, text: Text, args: Vec<(&'static str, String)>) -> FieldIssue {
    FieldIssue {
        // The body itself is `/`-less in RFC 6901; a problem about it points at "".
        pointer: at.to_string(),
        text,
        args,
    }
}

/// The pointer to field `name` under `at` (RFC 6901 escaping).
fn child(at: &str, name: &str) -> String {
    format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"))
}

/// The field poem-openapi's own message names (`field \`name\` verification failed…`), if any.
pub fn named_in(reason: &str) -> Option<&str> {
    let rest = &reason[reason.find("field `")? + "field `".len()..];
    Some(&rest[..rest.find('`')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r##"{
      "paths": {"/v1/things/{code}/notes": {"post": {"requestBody": {"content": {
        "application/json; charset=utf-8": {"schema": {"$ref": "#/components/schemas/Note"}}}}}}},
      "components": {"schemas": {
        "Note": {"type": "object", "required": ["at", "kind"], "properties": {
          "at": {"type": "string", "format": "date-time"},
          "kind": {"$ref": "#/components/schemas/Kind"},
          "text": {"type": "string", "maxLength": 3, "nullable": true},
          "count": {"type": "integer", "format": "int32", "minimum": 1},
          "tags": {"type": "array", "maxItems": 2, "items": {"type": "string", "format": "date"}}}},
        "Kind": {"type": "string", "enum": ["a", "b"]}}}
    }"##;

    fn pointers(body: &str) -> Vec<String> {
        let schemas = BodySchemas::from_openapi(SPEC);
        let method = Method::POST;
        let issues = schemas.locate(&method, "/v1/things/X-1/notes", body.as_bytes());
        issues.into_iter().map(|i| i.pointer).collect()
    }

    #[test]
    fn each_bad_field_is_pointed_at() {
        let ok = r#"{"at": "2026-05-04T09:00:00+07:00", "kind": "a", "text": null}"#;
        assert!(pointers(ok).is_empty());
        assert_eq!(pointers(r#"{"at": "4 May", "kind": "a"}"#), ["/at"]);
        assert_eq!(pointers(r#"{"at": "2026-05-04T09:00:00Z"}"#), ["/kind"]);
        assert_eq!(
            pointers(r#"{"at": "2026-05-04T09:00:00Z", "kind": "c", "text": "long"}"#),
            ["/kind", "/text"]
        );
        let many = r#"{"at": "2026-05-04T09:00:00Z", "kind": "b", "count": 0,
                       "tags": ["2026-01-01", "2026-02-30"]}"#;
        assert_eq!(pointers(many), ["/count", "/tags/1"]);
        assert_eq!(
            pointers(r#"{"at": 5, "kind": "a", "count": 3000000000}"#),
            ["/at", "/count"]
        );
        // A number stands for its text where a plain string is expected, as poem-openapi reads it.
        assert!(pointers(r#"{"at": "2026-05-04T09:00:00Z", "kind": "a", "text": 12}"#).is_empty());
        assert_eq!(
            pointers(r#"{"at": "2026-05-04T09:00:00Z", "kind": "a", "text": [1]}"#),
            ["/text"]
        );
    }

    #[test]
    fn other_operations_and_unreadable_bodies_name_nothing() {
        let schemas = BodySchemas::from_openapi(SPEC);
        assert!(
            schemas
                .locate(&Method::POST, "/v1/other", br#"{"at": 1}"#)
                .is_empty()
        );
        assert!(
            schemas
                .locate(&Method::POST, "/v1/things/X/notes", b"{")
                .is_empty()
        );
        assert_eq!(
            named_in("failed to parse \"X\": field `name` verification failed. maxLength(5)"),
            Some("name")
        );
        let notes = "/v1/things/X-1/notes";
        assert_eq!(
            schemas
                .path_param(&Method::POST, notes, "param0")
                .as_deref(),
            Some("code")
        );
        assert_eq!(schemas.path_param(&Method::POST, notes, "param1"), None);
    }
}
