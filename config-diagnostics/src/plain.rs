//! serde's type errors in the words of the file: "must be a whole number from 0 to 4294967295,
//! not `128.5`" rather than "invalid type: floating point `128.5`, expected u32".

use toml::de::DeValue;

/// What kind of value a key holds in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scalar,
    Array,
    Table,
}

/// The longest literal quoted back in a message.
const MOST_QUOTED_CHARS: usize = 40;

impl Kind {
    pub fn of(value: &DeValue<'_>) -> Self {
        match value {
            DeValue::Array(_) => Kind::Array,
            DeValue::Table(_) => Kind::Table,
            _ => Kind::Scalar,
        }
    }

    /// The value as a message names it: a scalar as written, quoted; an array or a table by
    /// its kind.
    pub fn describe(self, text: &str) -> String {
        match self {
            Kind::Array => "an array".into(),
            Kind::Table => "a table".into(),
            Kind::Scalar => {
                let line = text.lines().next().unwrap_or_default();
                let mut quoted: String = line.chars().take(MOST_QUOTED_CHARS).collect();
                if quoted.len() < text.len() {
                    quoted.push('…');
                }
                format!("`{quoted}`")
            }
        }
    }
}

/// `message` with every value it quotes (between backticks) longer than
/// [`MOST_QUOTED_CHARS`] cut to that, so that a long value cannot bury what is said about it.
pub fn cut_quotes(message: &str) -> std::borrow::Cow<'_, str> {
    let too_long = message
        .split('`')
        .skip(1)
        .step_by(2)
        .any(|quoted| quoted.chars().count() > MOST_QUOTED_CHARS);
    if !too_long {
        return message.into();
    }
    let parts = message.split('`').enumerate().map(|(i, part)| {
        if i % 2 == 1 && part.chars().count() > MOST_QUOTED_CHARS {
            let mut cut: String = part.chars().take(MOST_QUOTED_CHARS).collect();
            cut.push('…');
            cut
        } else {
            part.to_string()
        }
    });
    parts.collect::<Vec<_>>().join("`").into()
}

/// `serde_message` reworded: a wrong type or value says what the key takes and what it was
/// given (`written`, from the file; serde's own words when unknown). Other messages (an unknown
/// key, a value outside a list) already speak the file's words; a missing key is told by
/// `TomlSource::deserialize`, which knows the table it is missing from.
pub fn message(serde_message: &str, written: Option<&str>) -> String {
    let mistake = serde_message
        .strip_prefix("invalid type: ")
        .or_else(|| serde_message.strip_prefix("invalid value: "));
    let Some((unexpected, expected)) = mistake.and_then(|rest| rest.rsplit_once(", expected "))
    else {
        return serde_message.replacen("unknown field", "unknown key", 1);
    };
    let given = written.map_or_else(|| unexpected.replace(" as i128", ""), str::to_owned);
    format!("must be {}, not {given}", takes(expected))
}

/// What a key takes, from what serde expected.
fn takes(expected: &str) -> String {
    let range = |low: i128, high: u128| format!("a whole number from {low} to {high}");
    match expected {
        "u8" => range(0, u8::MAX.into()),
        "u16" => range(0, u16::MAX.into()),
        "u32" => range(0, u32::MAX.into()),
        "u64" | "usize" => range(0, u64::MAX.into()),
        "i8" => range(i8::MIN.into(), i8::MAX as u128),
        "i16" => range(i16::MIN.into(), i16::MAX as u128),
        "i32" => range(i32::MIN.into(), i32::MAX as u128),
        "i64" | "isize" => range(i64::MIN.into(), i64::MAX as u128),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "`true` or `false`".into(),
        "a sequence" => "an array".into(),
        "a map" | "map" => "a table".into(),
        "a borrowed string" => "a string".into(),
        "a character" => "a single character".into(),
        other if other.starts_with("struct ") => "a table".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_types_become_what_the_file_can_say() {
        for (serde, written, plain) in [
            (
                "invalid type: floating point `128.5`, expected u32",
                Some("`128.5`"),
                "must be a whole number from 0 to 4294967295, not `128.5`",
            ),
            (
                "invalid value: integer `-6`, expected u32",
                Some("`-6`"),
                "must be a whole number from 0 to 4294967295, not `-6`",
            ),
            (
                "invalid type: integer `99999999999999999999` as i128, expected u32",
                None,
                "must be a whole number from 0 to 4294967295, not integer `99999999999999999999`",
            ),
            (
                "invalid type: sequence, expected struct Api",
                Some("an array"),
                "must be a table, not an array",
            ),
            (
                "invalid type: string \"eu\", expected a sequence",
                Some("`\"eu\"`"),
                "must be an array, not `\"eu\"`",
            ),
            (
                "invalid type: map, expected f64",
                Some("`2024-01-01`"),
                "must be a number, not `2024-01-01`",
            ),
            (
                "unknown field `foo`, expected `deletion_protection`",
                None,
                "unknown key `foo`, expected `deletion_protection`",
            ),
            (
                "unknown variant `mips`, expected `arm64` or `x86_64`",
                None,
                "unknown variant `mips`, expected `arm64` or `x86_64`",
            ),
        ] {
            assert_eq!(message(serde, written), plain);
        }
    }

    #[test]
    fn a_long_literal_is_cut() {
        let long = "\"".to_string() + &"x".repeat(100) + "\"";
        let described = Kind::Scalar.describe(&long);
        assert_eq!(
            described.chars().count(),
            MOST_QUOTED_CHARS + 3,
            "{described}"
        );
        assert!(described.ends_with("…`"));
    }
}
