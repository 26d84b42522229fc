//! kube-apiserver's field errors (apimachinery `util/validation/field`) and
//! their exact rendering: `field.path: Type: value: detail`.
//!
//! Values are printed the way `field.Error.ErrorBody` prints them in
//! Kubernetes 1.37: strings Go-quoted (`%q`), integers and booleans bare,
//! lists and structs as Go's `encoding/json` writes them (since apimachinery
//! v0.34; older releases used Go syntax).

use std::fmt;

/// The kind of a field error (`field.ErrorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// `Required value` (never prints the value).
    Required,
    /// `Invalid value`.
    Invalid,
    /// `Unsupported value`.
    NotSupported,
    /// `Duplicate value`.
    Duplicate,
    /// `Forbidden` (never prints the value).
    Forbidden,
    /// `Too long` (never prints the value).
    TooLong,
    /// `Too many`.
    TooMany,
    /// Not a field error: kube-apiserver answers `Internal error occurred:
    /// <detail>` (e.g. a requested health-check node port that cannot be
    /// reserved). The field only says where to point.
    Internal,
}

impl ErrorType {
    /// The words kube-apiserver prints.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Required => "Required value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Internal => "Internal error occurred",
        }
    }

    /// The `reason` of the Status cause (`FieldValueInvalid`, ...).
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Internal => "InternalError",
        }
    }
}

/// The offending value, as the Go code passes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadValue {
    /// No value is printed (Required, Forbidden, Too long).
    None,
    /// A string (or a pointer to one): printed with `%q`.
    Str(String),
    /// An integer: printed bare.
    Int(i64),
    /// A composite value, already rendered as JSON.
    Json(String),
}

impl BadValue {
    /// A list of strings, as JSON.
    pub fn strings<S: AsRef<str>>(items: &[S]) -> BadValue {
        let parts: Vec<String> = items.iter().map(|s| json_string(s.as_ref())).collect();
        BadValue::Json(format!("[{}]", parts.join(",")))
    }
}

/// One field error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The type.
    pub kind: ErrorType,
    /// The field path as kube-apiserver writes it (`spec.ports[0].port`).
    pub field: String,
    /// The value.
    pub value: BadValue,
    /// The detail (may be empty).
    pub detail: String,
    /// Where to point in the input when `field` is not a path the manifest
    /// has (e.g. `spec.clusterIPs[0]` of a manifest that set `clusterIP`).
    pub at: Option<String>,
}

impl FieldError {
    fn new(kind: ErrorType, field: &str, value: BadValue, detail: impl Into<String>) -> Self {
        FieldError {
            kind,
            field: field.to_string(),
            value,
            detail: detail.into(),
            at: None,
        }
    }

    /// `field.Required`.
    pub fn required(field: &str, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Required, field, BadValue::None, detail)
    }

    /// `field.Invalid`.
    pub fn invalid(field: &str, value: BadValue, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Invalid, field, value, detail)
    }

    /// `field.Invalid` with a string value.
    pub fn invalid_str(field: &str, value: &str, detail: impl Into<String>) -> Self {
        Self::invalid(field, BadValue::Str(value.to_string()), detail)
    }

    /// `field.Invalid` with an integer value.
    pub fn invalid_int(field: &str, value: i64, detail: impl Into<String>) -> Self {
        Self::invalid(field, BadValue::Int(value), detail)
    }

    /// `field.NotSupported`: the allowed values are quoted and joined
    /// (callers pass them sorted, as `sets.List` does).
    pub fn not_supported(field: &str, value: &str, allowed: &[&str]) -> Self {
        let detail = if allowed.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = allowed.iter().map(|v| go_quote(v)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(
            ErrorType::NotSupported,
            field,
            BadValue::Str(value.to_string()),
            detail,
        )
    }

    /// `field.Duplicate`.
    pub fn duplicate(field: &str, value: BadValue) -> Self {
        Self::new(ErrorType::Duplicate, field, value, "")
    }

    /// `field.Forbidden`.
    pub fn forbidden(field: &str, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Forbidden, field, BadValue::None, detail)
    }

    /// `field.TooLong` (apimachinery ≥ v0.34 wording).
    pub fn too_long(field: &str, max_bytes: usize) -> Self {
        Self::new(
            ErrorType::TooLong,
            field,
            BadValue::None,
            format!("must have at most {max_bytes} bytes"),
        )
    }

    /// `field.TooMany`.
    pub fn too_many(field: &str, actual: usize, max: usize) -> Self {
        Self::new(
            ErrorType::TooMany,
            field,
            BadValue::Int(actual as i64),
            format!("must have at most {max} items"),
        )
    }

    /// An internal error (see [`ErrorType::Internal`]).
    pub fn internal(field: &str, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Internal, field, BadValue::None, detail)
    }

    /// Points the diagnostic at `path` of the manifest instead of `field`.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.at = Some(path.into());
        self
    }

    /// The message without the field (`ErrorBody`): what a Status cause's
    /// `message` holds.
    pub fn body(&self) -> String {
        let mut s = self.kind.as_str().to_string();
        match (&self.value, self.kind) {
            (
                _,
                ErrorType::Required
                | ErrorType::Forbidden
                | ErrorType::TooLong
                | ErrorType::Internal,
            ) => {}
            (BadValue::None, _) => {}
            (BadValue::Str(v), _) => {
                s.push_str(": ");
                s.push_str(&go_quote(v));
            }
            (BadValue::Int(i), _) => {
                s.push_str(&format!(": {i}"));
            }
            (BadValue::Json(j), _) => {
                s.push_str(": ");
                s.push_str(j);
            }
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == ErrorType::Internal {
            return write!(f, "{}: {}", self.kind.as_str(), self.detail);
        }
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// A string as Go's `strconv.Quote` writes it (what `%q` prints).
///
/// Printable characters stay as they are; the rest become `\a \b \f \n \r
/// \t \v`, `\xNN` (ASCII), `\uNNNN` or `\UNNNNNNNN`. Go's notion of
/// "printable" (letters, marks, numbers, punctuation, symbols and the ASCII
/// space) is approximated by excluding control, format and non-ASCII
/// space characters.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

fn go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    // Format characters (Unicode category Cf) and the replacement-only
    // code points Go also escapes.
    !matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
        | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF)
}

/// A string as Go's `encoding/json` writes it (HTML-safe escaping of `<`,
/// `>` and `&`, `\u2028`/`\u2029` escaped).
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_type() {
        let e = FieldError::invalid_int(
            "spec.ports[0].port",
            0,
            "must be between 1 and 65535, inclusive",
        );
        assert_eq!(
            e.to_string(),
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
        );
        assert_eq!(
            FieldError::required("spec.externalName", "").to_string(),
            "spec.externalName: Required value"
        );
        assert_eq!(
            FieldError::forbidden(
                "spec.loadBalancerClass",
                "may only be used when `type` is 'LoadBalancer'"
            )
            .to_string(),
            "spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'"
        );
        assert_eq!(
            FieldError::not_supported("spec.type", "Internal", &["ClusterIP", "NodePort"])
                .to_string(),
            "spec.type: Unsupported value: \"Internal\": supported values: \"ClusterIP\", \"NodePort\""
        );
        assert_eq!(
            FieldError::duplicate("spec.ports[1].name", BadValue::Str("http".into())).to_string(),
            "spec.ports[1].name: Duplicate value: \"http\""
        );
        assert_eq!(
            FieldError::too_long("metadata.annotations", 262144).to_string(),
            "metadata.annotations: Too long: must have at most 262144 bytes"
        );
        assert_eq!(
            FieldError::too_many("endpoints", 1001, 1000).to_string(),
            "endpoints: Too many: 1001: must have at most 1000 items"
        );
        assert_eq!(
            FieldError::invalid(
                "spec.clusterIPs",
                BadValue::strings(&["10.0.0.1", "2001::1"]),
                "x"
            )
            .to_string(),
            "spec.clusterIPs: Invalid value: [\"10.0.0.1\",\"2001::1\"]: x"
        );
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("web app"), "\"web app\"");
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote("\n\t\u{1}\u{7f}"), "\"\\n\\t\\x01\\x7f\"");
        assert_eq!(go_quote("é\u{a0}\u{200b}"), "\"é\\u00a0\\u200b\"");
        assert_eq!(json_string("<a&b>\n"), "\"\\u003ca\\u0026b\\u003e\\n\"");
    }
}
