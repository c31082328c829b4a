//! How long an idle model stays loaded: `--keep-alive` and Ollama's per-request `keep_alive`.
//!
//! Accepted forms (as Ollama accepts them): a duration string (`"5m"`, `"1h30m"`, `"90s"`,
//! `"300ms"`), a number of seconds (`300`, `"300"`), `0` (unload as soon as the request ends)
//! and any negative value (`-1`, `"-1m"`: keep forever).

use std::time::Duration;

use serde_json::Value;

/// How long a model stays loaded after its last request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    /// Unload once idle for this long (zero: right after the request).
    For(Duration),
    /// Never unload for idleness.
    Forever,
}

impl Default for KeepAlive {
    /// Five minutes, as Ollama.
    fn default() -> Self {
        KeepAlive::For(Duration::from_secs(300))
    }
}

impl std::fmt::Display for KeepAlive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeepAlive::Forever => f.write_str("forever"),
            KeepAlive::For(d) if d.is_zero() => f.write_str("0 (unload when idle)"),
            KeepAlive::For(d) => write!(f, "{}", humantime::format_duration(*d)),
        }
    }
}

impl std::str::FromStr for KeepAlive {
    type Err = String;

    /// Parses `"5m"`, `"300"`, `"0"`, `"-1"`...
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("an empty keep-alive; use e.g. 5m, 300 (seconds), 0 or -1".into());
        }
        if let Some(rest) = s.strip_prefix('-') {
            // Any negative duration means "forever"; the rest must still parse.
            parse_positive(rest)?;
            return Ok(KeepAlive::Forever);
        }
        parse_positive(s).map(KeepAlive::For)
    }
}

fn parse_positive(s: &str) -> Result<Duration, String> {
    if let Ok(seconds) = s.parse::<f64>() {
        if (0.0..1e12).contains(&seconds) {
            return Ok(Duration::from_secs_f64(seconds));
        }
        return Err(format!("keep-alive \"{s}\" is out of range"));
    }
    humantime::parse_duration(s).map_err(|e| {
        format!(
            "keep-alive \"{s}\" is not a duration ({e}); use e.g. 5m, 1h, 300 (seconds), 0 or -1"
        )
    })
}

impl KeepAlive {
    /// Reads the JSON `keep_alive` of a request: a string or a number of seconds.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(s) => s.parse(),
            Value::Number(n) => {
                let secs = n
                    .as_f64()
                    .ok_or_else(|| format!("keep_alive {n} is not a number"))?;
                if secs < 0.0 {
                    Ok(KeepAlive::Forever)
                } else {
                    parse_positive(&secs.to_string()).map(KeepAlive::For)
                }
            }
            other => Err(format!(
                "keep_alive must be a duration string such as \"5m\" or a number of seconds, not {other}"
            )),
        }
    }

    /// Whether this asks for an unload as soon as the model is idle.
    pub fn is_zero(&self) -> bool {
        matches!(self, KeepAlive::For(d) if d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_ollama_forms() {
        assert_eq!("5m".parse(), Ok(KeepAlive::For(Duration::from_secs(300))));
        assert_eq!(
            "1h30m".parse(),
            Ok(KeepAlive::For(Duration::from_secs(5400)))
        );
        assert_eq!("300".parse(), Ok(KeepAlive::For(Duration::from_secs(300))));
        assert_eq!("0".parse(), Ok(KeepAlive::For(Duration::ZERO)));
        assert_eq!("-1".parse(), Ok(KeepAlive::Forever));
        assert_eq!("-1m".parse(), Ok(KeepAlive::Forever));
        assert!("soon".parse::<KeepAlive>().is_err());
        assert!("".parse::<KeepAlive>().is_err());
    }

    #[test]
    fn parses_json_numbers_and_strings() {
        assert_eq!(
            KeepAlive::from_json(&json!(10)),
            Ok(KeepAlive::For(Duration::from_secs(10)))
        );
        assert_eq!(KeepAlive::from_json(&json!(-1)), Ok(KeepAlive::Forever));
        assert!(KeepAlive::from_json(&json!(0)).unwrap().is_zero());
        assert_eq!(
            KeepAlive::from_json(&json!("2s")),
            Ok(KeepAlive::For(Duration::from_secs(2)))
        );
        assert!(KeepAlive::from_json(&json!(true)).is_err());
    }
}
