//! TAO amounts: 1 TAO = 10^9 rao. Parsed and printed exactly, never through floats.

/// Rao in one TAO.
pub const RAO_PER_TAO: u64 = 1_000_000_000;

/// `1234500000` → `"1.2345"`.
pub fn format_tao(rao: u64) -> String {
    let whole = rao / RAO_PER_TAO;
    let frac = rao % RAO_PER_TAO;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// `"1.2345"` → `1234500000`. At most 9 decimals; no sign, no exponent.
pub fn parse_tao(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not an amount of TAO (e.g. 10 or 0.5)");
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty() || !whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    if frac.len() > 9 {
        return Err(format!("{text:?} has more than 9 decimals (1 rao = 0.000000001 TAO)"));
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
    let frac: u64 = format!("{frac:0<9}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(RAO_PER_TAO)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(|| format!("{text:?} TAO is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip_exactly() {
        for (text, rao) in [
            ("0", 0),
            ("1", RAO_PER_TAO),
            ("0.000000001", 1),
            ("1.2345", 1_234_500_000),
            ("10000", 10_000 * RAO_PER_TAO),
        ] {
            assert_eq!(parse_tao(text).unwrap(), rao, "{text}");
            assert_eq!(format_tao(rao), text);
        }
        assert_eq!(parse_tao(".5").unwrap(), RAO_PER_TAO / 2);
    }

    #[test]
    fn bad_amounts_are_refused() {
        for text in ["", ".", "-1", "1e3", "1.0000000001", "abc", "99999999999999999999", "1.2.3"] {
            assert!(parse_tao(text).is_err(), "{text}");
        }
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused_and_amounts_round_trip(text in "\\PC{0,30}", rao in any::<u64>()) {
            let _ = super::parse_tao(&text);
            prop_assert_eq!(super::parse_tao(&super::format_tao(rao)), Ok(rao));
        }
    }
}
