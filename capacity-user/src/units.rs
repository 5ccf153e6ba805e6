//! Parsing of the command line's sizes, rates and durations.
use std::time::Duration;

/// `4096`, `64K`, `8M`, `1G` (binary suffixes, optional `iB`/`B`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let stripped = upper.trim_end_matches("IB").trim_end_matches('B');
    let (digits, shift) = match stripped.chars().last() {
        Some('K') => (&stripped[..stripped.len() - 1], 10),
        Some('M') => (&stripped[..stripped.len() - 1], 20),
        Some('G') => (&stripped[..stripped.len() - 1], 30),
        Some('T') => (&stripped[..stripped.len() - 1], 40),
        _ => (stripped, 0),
    };
    let value: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a size: use bytes or a binary suffix, e.g. 4096, 64K, 8M, 1G"))?;
    value.checked_mul(1u64 << shift).ok_or_else(|| format!("`{text}` is too large"))
}

/// `250000`, `250k`, `2.5M`, `1e6` (decimal suffixes), events per second;
/// `max` means unpaced (as fast as the producers go): infinity.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("max") {
        return Ok(f64::INFINITY);
    }
    let (number, factor) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        Some('g' | 'G') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a rate: use events per second, e.g. 250000, 250k, 2.5M, or max"))?;
    let rate = value * factor;
    if !rate.is_finite() || rate <= 0.0 {
        return Err(format!("rate `{text}` must be a positive number of events per second"));
    }
    Ok(rate)
}

/// `5` (seconds), `2s`, `500ms`, `1.5s`, `2m`, `24h`, `7d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else if let Some(n) = t.strip_suffix('d') {
        (n, 86_400.0)
    } else {
        (t, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: use seconds or a unit, e.g. 5, 2s, 500ms"))?;
    if !value.is_finite() || value <= 0.0 {
        return Err(format!("duration `{text}` must be positive"));
    }
    Duration::try_from_secs_f64(value * unit)
        .map_err(|_| format!("duration `{text}` is too long: use at most {} s", Duration::MAX.as_secs()))
}

/// Human form of a byte count, e.g. `64 KiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// Human form of a rate, e.g. `2.50M/s`.
pub fn format_rate(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2}M/s", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1}k/s", rate / 1e3)
    } else {
        format!("{rate:.0}/s")
    }
}

/// A rate as a plain number for messages: `1000000000`, `0.2`, and
/// scientific notation only where digits would run on (`1e30`, `1e-9`).
pub fn plain_rate(rate: f64) -> String {
    if (1e-3..1e15).contains(&rate) {
        let fixed = format!("{rate:.3}");
        fixed.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{rate:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("-1").is_err());
    }

    #[test]
    fn rates_take_decimal_suffixes() {
        assert_eq!(parse_rate("250000"), Ok(250_000.0));
        assert_eq!(parse_rate("250k"), Ok(250_000.0));
        assert_eq!(parse_rate("2.5M"), Ok(2_500_000.0));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("-5k").is_err());
        assert!(parse_rate("fast").is_err());
        assert_eq!(parse_rate("max"), Ok(f64::INFINITY));
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("1e30").unwrap_err().contains("too long"));
    }

    #[test]
    fn rates_in_messages_are_plain() {
        assert_eq!(plain_rate(1e9), "1000000000");
        assert_eq!(plain_rate(0.2), "0.2");
        assert_eq!(plain_rate(250_000.5), "250000.5");
        assert_eq!(plain_rate(1e30), "1e30");
        assert_eq!(plain_rate(1e-9), "1e-9");
    }

    #[test]
    fn bytes_format_readably() {
        assert_eq!(format_bytes(100), "100 B");
        assert_eq!(format_bytes(65536), "64 KiB");
        assert_eq!(format_bytes(1536), "1.50 KiB");
    }
}
