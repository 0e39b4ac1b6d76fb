//! AWS Kafka keys and values: standard-alphabet base64, SIMD-decoded. Accepted as Python's and Java's decoders
//! accept them: with or without padding, and with non-zero trailing bits in the last symbol (AWS's own sample
//! key `abcDEFghiJKLmnoPQRstuVWXyz1234==` has them). What is refused is said precisely.

use std::fmt;

/// Why a base64 text does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    Character {
        character: char,
        position: usize,
    },
    Padding {
        position: usize,
    },
    /// `len` symbols, one more than a whole number of bytes needs.
    DanglingSymbol {
        len: usize,
    },
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Character { character, position } => write!(
                f,
                "character {:?} at position {position} is not in the base64 alphabet",
                character
            ),
            Invalid::Padding { position } => write!(f, "misplaced `=` padding at position {position}"),
            Invalid::DanglingSymbol { len } => {
                write!(f, "{len} symbols: the last one holds less than a byte (truncated?)")
            }
        }
    }
}

/// Appends the bytes `text` encodes to `out`.
pub(super) fn decode_append(text: &str, out: &mut Vec<u8>) -> Result<(), Invalid> {
    let engine = if text.len() % 4 == 0 {
        base64_simd::STANDARD
    } else {
        base64_simd::STANDARD_NO_PAD
    };
    if engine.decode_append(text, out).is_ok() {
        return Ok(());
    }
    decode_lenient(text, out)
}

/// The slow path, for texts the strict decoder refused: says which symbol is wrong, or clears the trailing
/// bits of the last symbol (the only leniency left) and decodes again.
fn decode_lenient(text: &str, out: &mut Vec<u8>) -> Result<(), Invalid> {
    let symbols = text.trim_end_matches('=');
    let padding = text.len() - symbols.len();
    for (position, character) in text.char_indices() {
        let in_alphabet = character.is_ascii_alphanumeric() || matches!(character, '+' | '/');
        if character == '=' && position < symbols.len() {
            return Err(Invalid::Padding { position });
        }
        if !in_alphabet && character != '=' {
            return Err(Invalid::Character { character, position });
        }
    }
    if padding > 2 || (padding > 0 && text.len() % 4 != 0) {
        return Err(Invalid::Padding {
            position: symbols.len(),
        });
    }
    let mut canonical = symbols.as_bytes().to_vec();
    let trailing_bits = match canonical.len() % 4 {
        1 => return Err(Invalid::DanglingSymbol { len: canonical.len() }),
        2 => 4,
        3 => 2,
        _ => 0,
    };
    if let Some(last) = canonical.last_mut() {
        let value = symbol_value(*last) & !((1u8 << trailing_bits) - 1);
        *last = ALPHABET[value as usize];
    }
    base64_simd::STANDARD_NO_PAD
        .decode_append(&canonical, out)
        .map_err(|_| Invalid::DanglingSymbol { len: canonical.len() })
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn symbol_value(symbol: u8) -> u8 {
    ALPHABET.iter().position(|&s| s == symbol).unwrap_or(0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(text: &str) -> Result<Vec<u8>, Invalid> {
        let mut out = Vec::new();
        decode_append(text, &mut out).map(|()| out)
    }

    #[test]
    fn canonical_unpadded_and_non_canonical_trailing_bits_decode() {
        assert_eq!(decoded("aGk=").unwrap(), b"hi");
        assert_eq!(decoded("aGk").unwrap(), b"hi");
        // AWS's documented sample key: `4` carries non-zero trailing bits; Python's b64decode gives these bytes.
        let aws = decoded("abcDEFghiJKLmnoPQRstuVWXyz1234==").unwrap();
        assert_eq!(aws.len(), 22);
        assert_eq!(&aws[..3], [0x69, 0xb7, 0x03]);
        assert_eq!(aws[21], 0xdf);
        assert_eq!(decoded("aGl=").unwrap(), b"hi", "trailing bits of a 3-symbol group");
    }

    #[test]
    fn refusals_say_what_and_where() {
        assert_eq!(
            decoded("aGk*").unwrap_err().to_string(),
            "character '*' at position 3 is not in the base64 alphabet"
        );
        assert_eq!(decoded("aG=k").unwrap_err(), Invalid::Padding { position: 2 });
        assert_eq!(decoded("aGk===").unwrap_err(), Invalid::Padding { position: 3 });
        assert_eq!(decoded("aGkhY").unwrap_err(), Invalid::DanglingSymbol { len: 5 });
        assert!(decoded("é").unwrap_err().to_string().contains("'é' at position 0"));
    }
}
