//! Turning a stream of token bytes into safe text: whole UTF-8 characters only, and never any
//! part of a stop string.

/// Incremental UTF-8 decoder: bytes in, whole characters out.
///
/// A character whose bytes span several tokens is held back until it is complete. Bytes that can
/// never form a valid character become U+FFFD, so the output is always valid text.
#[derive(Debug, Default)]
pub struct Utf8Decoder {
    pending: Vec<u8>,
}

impl Utf8Decoder {
    /// Creates an empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes and returns every character they complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(text) => {
                    out.push_str(text);
                    start = self.pending.len();
                    break;
                }
                Err(err) => {
                    let valid = err.valid_up_to();
                    // Safe: `valid_up_to` bytes were just checked.
                    out.push_str(
                        std::str::from_utf8(&self.pending[start..start + valid]).unwrap_or(""),
                    );
                    start += valid;
                    match err.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            start += bad;
                        }
                        None => break, // an incomplete character: wait for more bytes
                    }
                }
            }
        }
        self.pending.drain(..start);
        out
    }

    /// Whether no bytes of an incomplete character are held back.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Ends the stream: an incomplete trailing character becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

/// Holds back text that could be the start of a stop string and reports when one appears.
#[derive(Debug, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
    matched: Option<String>,
}

/// What [`StopMatcher::push`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopScan {
    /// Text that is safe to emit now.
    pub emit: String,
    /// Whether a stop string was found (generation must end; `emit` is the text before it).
    pub stopped: bool,
}

impl StopMatcher {
    /// Creates a matcher for `stops` (empty strings are ignored).
    pub fn new(stops: &[String]) -> Self {
        StopMatcher {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
            matched: None,
        }
    }

    /// Adds generated text; returns what can be emitted and whether a stop string matched.
    pub fn push(&mut self, text: &str) -> StopScan {
        self.held.push_str(text);
        if self.stops.is_empty() {
            return StopScan {
                emit: std::mem::take(&mut self.held),
                stopped: false,
            };
        }
        let first_stop = self
            .stops
            .iter()
            .filter_map(|stop| self.held.find(stop.as_str()).map(|at| (at, stop)))
            .min_by_key(|(at, _)| *at);
        if let Some((at, stop)) = first_stop {
            self.matched = Some(stop.clone());
            let emit = self.held[..at].to_string();
            self.held.clear();
            return StopScan {
                emit,
                stopped: true,
            };
        }
        let keep = self.partial_suffix_len();
        let cut = self.held.len() - keep;
        let emit = self.held[..cut].to_string();
        self.held.drain(..cut);
        StopScan {
            emit,
            stopped: false,
        }
    }

    /// The stop string that ended the text, once one has matched.
    pub fn matched(&self) -> Option<&str> {
        self.matched.as_deref()
    }

    /// Ends the stream without a stop: returns whatever was held back.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Length of the longest suffix of the held text that is a proper prefix of a stop string.
    fn partial_suffix_len(&self) -> usize {
        let held = self.held.as_str();
        let mut best = 0;
        for (start, _) in held.char_indices() {
            let suffix = &held[start..];
            if suffix.len() <= best {
                break;
            }
            if self.stops.iter().any(|stop| stop.starts_with(suffix)) {
                best = suffix.len();
                break;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multibyte_characters_wait_for_all_their_bytes() {
        let mut dec = Utf8Decoder::new();
        let euro = "€".as_bytes(); // 3 bytes
        assert_eq!(dec.push(&euro[..1]), "");
        assert_eq!(dec.push(&euro[1..2]), "");
        assert_eq!(dec.push(&euro[2..]), "€");
        assert_eq!(dec.push(b"ab"), "ab");
        assert_eq!(dec.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut dec = Utf8Decoder::new();
        assert_eq!(dec.push(&[b'a', 0xFF, b'b']), "a\u{FFFD}b");
        assert_eq!(dec.push(&[0xE2, 0x82]), "");
        assert_eq!(dec.finish(), "\u{FFFD}");
    }

    #[test]
    fn stop_string_is_never_emitted() {
        let mut m = StopMatcher::new(&["</end>".to_string()]);
        let a = m.push("hello </e");
        assert_eq!(a.emit, "hello ");
        assert!(!a.stopped);
        let b = m.push("nd> tail");
        assert_eq!(b.emit, "");
        assert!(b.stopped);
    }

    #[test]
    fn held_text_is_released_when_it_stops_matching() {
        let mut m = StopMatcher::new(&["STOP".to_string()]);
        assert_eq!(m.push("ST").emit, "");
        assert_eq!(m.push("AR").emit, "STAR");
        assert_eq!(m.push("S").emit, "");
        assert_eq!(m.finish(), "S");
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let mut m = StopMatcher::new(&["b".to_string(), "a".to_string()]);
        assert_eq!(m.matched(), None);
        let scan = m.push("xxaxb");
        assert_eq!(scan.emit, "xx");
        assert!(scan.stopped);
        assert_eq!(m.matched(), Some("a"));
    }

    #[test]
    fn no_stops_passes_everything_through() {
        let mut m = StopMatcher::new(&[]);
        assert_eq!(m.push("abc").emit, "abc");
    }
}
