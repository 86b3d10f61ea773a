//! Online forms: a submission's `form` against its procedure's JSON Schema. Each error names
//! the field by JSON pointer (from the request body's root, so under `/form`) with a message the
//! API renders in the caller's language.

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::http::lang::Text;

pub const REQUIRED: Text = Text {
    en: "is required",
    vi: "là bắt buộc",
};
pub const WRONG_TYPE: Text = Text {
    en: "has the wrong type",
    vi: "sai kiểu dữ liệu",
};
pub const WRONG_FORMAT: Text = Text {
    en: "has the wrong format",
    vi: "sai định dạng",
};
pub const TOO_SHORT: Text = Text {
    en: "is too short",
    vi: "quá ngắn",
};
pub const TOO_LONG: Text = Text {
    en: "is too long",
    vi: "quá dài",
};
pub const OUT_OF_RANGE: Text = Text {
    en: "is out of the allowed range",
    vi: "nằm ngoài khoảng cho phép",
};
pub const NOT_ALLOWED_VALUE: Text = Text {
    en: "is not one of the allowed values",
    vi: "không thuộc các giá trị cho phép",
};
pub const UNEXPECTED: Text = Text {
    en: "is not a field of this form",
    vi: "không phải là trường của biểu mẫu này",
};
pub const INVALID: Text = Text {
    en: "is invalid",
    vi: "không hợp lệ",
};

/// One refused field of a form.
#[derive(Debug, Clone)]
pub struct FieldError {
    /// JSON pointer from the request body's root, e.g. `/form/applicant/phone`.
    pub pointer: String,
    pub message: Text,
}

/// Checks `form` against `schema`; an empty list means valid. A schema that does not compile is
/// our data's fault, hence an error rather than a refusal of the citizen.
pub fn validate(schema: &Value, form: &Value) -> anyhow::Result<Vec<FieldError>> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| anyhow::anyhow!("a procedure's form schema does not compile: {e}"))?;
    let mut errors: Vec<FieldError> = validator
        .iter_errors(form)
        .map(|error| {
            let at = error.instance_path().as_str();
            let (suffix, message) = describe(error.kind());
            FieldError {
                pointer: format!("/form{at}{suffix}"),
                message,
            }
        })
        .collect();
    errors.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    errors.dedup_by(|a, b| a.pointer == b.pointer && a.message.en == b.message.en);
    Ok(errors)
}

/// The pointer suffix (a missing or unexpected property names itself) and the message.
fn describe(kind: &ValidationErrorKind) -> (String, Text) {
    let escape = |name: &str| name.replace('~', "~0").replace('/', "~1");
    match kind {
        ValidationErrorKind::Required { property } => (
            format!("/{}", escape(property.as_str().unwrap_or_default())),
            REQUIRED,
        ),
        ValidationErrorKind::AdditionalProperties { unexpected } => (
            unexpected
                .first()
                .map(|name| format!("/{}", escape(name)))
                .unwrap_or_default(),
            UNEXPECTED,
        ),
        ValidationErrorKind::Type { .. } => (String::new(), WRONG_TYPE),
        ValidationErrorKind::Pattern { .. } | ValidationErrorKind::Format { .. } => {
            (String::new(), WRONG_FORMAT)
        }
        ValidationErrorKind::MinLength { .. } | ValidationErrorKind::MinItems { .. } => {
            (String::new(), TOO_SHORT)
        }
        ValidationErrorKind::MaxLength { .. } | ValidationErrorKind::MaxItems { .. } => {
            (String::new(), TOO_LONG)
        }
        ValidationErrorKind::Minimum { .. }
        | ValidationErrorKind::Maximum { .. }
        | ValidationErrorKind::ExclusiveMinimum { .. }
        | ValidationErrorKind::ExclusiveMaximum { .. } => (String::new(), OUT_OF_RANGE),
        ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. } => {
            (String::new(), NOT_ALLOWED_VALUE)
        }
        _ => (String::new(), INVALID),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["full_name", "phone"],
            "additionalProperties": false,
            "properties": {
                "full_name": {"type": "string", "minLength": 1},
                "phone": {"type": "string", "pattern": "^0[0-9]{9}$"},
                "copies": {"type": "integer", "minimum": 1, "maximum": 10}
            }
        })
    }

    #[test]
    fn a_valid_form_has_no_errors() {
        let form = json!({"full_name": "Nguyễn Văn A", "phone": "0912345678", "copies": 2});
        assert!(validate(&schema(), &form).unwrap().is_empty());
    }

    #[test]
    fn each_error_names_its_field_by_pointer() {
        let form = json!({"phone": "12", "copies": 50, "extra": true});
        let errors = validate(&schema(), &form).unwrap();
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/form/copies",
                "/form/extra",
                "/form/full_name",
                "/form/phone"
            ]
        );
        assert_eq!(errors[2].message.en, REQUIRED.en);
        assert_eq!(errors[3].message.en, WRONG_FORMAT.en);
    }
}
