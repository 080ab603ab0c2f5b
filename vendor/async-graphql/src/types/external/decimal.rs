use rust_decimal::Decimal;

use crate::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

#[Scalar(internal, name = "Decimal")]
impl ScalarType for Decimal {
    // Patched (see PATCHED.md): money is a plain decimal string, digits with an optional
    // fraction. Exponents, signs, underscores, a leading or trailing `.`, whitespace and
    // JSON numbers (which clients hold as binary floats) are refused.
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => {
                let (whole, fraction) = match s.split_once('.') {
                    Some((whole, fraction)) => (whole, Some(fraction)),
                    None => (s.as_str(), None),
                };
                let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
                if s.len() > 40 || !digits(whole) || !fraction.is_none_or(digits) {
                    return Err(InputValueError::custom(format!(
                        "\"{}\" is not a plain decimal like \"12.34\"",
                        s.chars().take(40).collect::<String>()
                    )));
                }
                Ok(Decimal::from_str_exact(s)?)
            }
            Value::Number(_) => Err(InputValueError::custom(
                "a Decimal is sent as a string like \"12.34\", not as a number",
            )),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_string())
    }
}
