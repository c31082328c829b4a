//! A little-endian byte reader that knows how many bytes the file has left and never reads,
//! allocates or skips past its end.

use std::fmt::Display;
use std::io::{self, Read};
use std::path::Path;

use crate::{Error, Result};

/// Longest string llama.cpp's GGUF reader accepts (`GGUF_MAX_STRING_LENGTH`).
pub(super) const MAX_STRING_LENGTH: u64 = 1 << 30;

/// Bounded reader over a GGUF file (or, in tests, any byte source).
pub(super) struct Reader<'p, R> {
    inner: R,
    pos: u64,
    len: u64,
    path: &'p Path,
}

impl<'p, R: Read> Reader<'p, R> {
    /// Wraps `inner`, positioned at byte 0 of a file of `len` bytes at `path`.
    pub(super) fn new(inner: R, len: u64, path: &'p Path) -> Self {
        Reader {
            inner,
            pos: 0,
            len,
            path,
        }
    }

    /// The current byte offset.
    pub(super) fn pos(&self) -> u64 {
        self.pos
    }

    /// The file size.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Bytes between the current offset and the end of the file.
    pub(super) fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    /// The file this reader reads (for error messages).
    pub(super) fn path(&self) -> &'p Path {
        self.path
    }

    /// An [`Error::InvalidGguf`] for this file. Reasons quote what the file holds (keys can be
    /// up to 1 GiB long), so an over-long one keeps its start and end.
    pub(super) fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::invalid_gguf(self.path, shorten(reason.into()))
    }

    /// Fails unless `n` more bytes exist.
    fn ensure(&self, n: u64, what: &dyn Display) -> Result<()> {
        if n > self.remaining() {
            return Err(self.invalid(format!(
                "unexpected end of file at byte {} while reading {what}: it needs {n} bytes but only {} are left \
                 (the file is {} bytes); the file is truncated, download or convert it again",
                self.pos,
                self.remaining(),
                self.len
            )));
        }
        Ok(())
    }

    fn io_error(&self, source: io::Error) -> Error {
        Error::io(self.path, source)
    }

    /// Reads `N` bytes.
    pub(super) fn bytes<const N: usize>(&mut self, what: &dyn Display) -> Result<[u8; N]> {
        self.ensure(N as u64, what)?;
        let mut buf = [0u8; N];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| self.io_error(e))?;
        self.pos += N as u64;
        Ok(buf)
    }

    /// Reads a little-endian `u32`.
    pub(super) fn u32(&mut self, what: &dyn Display) -> Result<u32> {
        self.bytes(what).map(u32::from_le_bytes)
    }

    /// Reads a little-endian `u64`.
    pub(super) fn u64(&mut self, what: &dyn Display) -> Result<u64> {
        self.bytes(what).map(u64::from_le_bytes)
    }

    /// Reads the length prefix of a string and checks it against the bytes left.
    fn string_len(&mut self, what: &dyn Display) -> Result<u64> {
        let start = self.pos;
        let n = self.u64(what)?;
        if n > MAX_STRING_LENGTH {
            return Err(self.invalid(format!(
                "{what} at byte {start} claims a length of {n} bytes, more than the 1 GiB llama.cpp accepts; \
                 the file is corrupt"
            )));
        }
        if n > self.remaining() {
            return Err(self.invalid(format!(
                "{what} at byte {start} claims a length of {n} bytes, past the end of the file \
                 ({} bytes left of {}); the file is corrupt or truncated",
                self.remaining(),
                self.len
            )));
        }
        Ok(n)
    }

    /// Reads a length-prefixed string; invalid UTF-8 is replaced by U+FFFD.
    pub(super) fn string(&mut self, what: &dyn Display) -> Result<String> {
        let buf = self.string_bytes(what)?;
        Ok(match String::from_utf8(buf) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// Reads a length-prefixed string as the bytes in the file.
    pub(super) fn string_bytes(&mut self, what: &dyn Display) -> Result<Vec<u8>> {
        let n = self.string_len(what)?;
        // `n` is at most the bytes left in the file and at most 1 GiB.
        let mut buf = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        (&mut self.inner)
            .take(n)
            .read_to_end(&mut buf)
            .map_err(|e| self.io_error(e))?;
        if buf.len() as u64 != n {
            return Err(self.io_error(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the file shrank while reading {what}"),
            )));
        }
        self.pos += n;
        Ok(buf)
    }

    /// Skips a length-prefixed string.
    pub(super) fn skip_string(&mut self, what: &dyn Display) -> Result<()> {
        let n = self.string_len(what)?;
        self.skip(n, what)
    }

    /// Skips `n` bytes.
    pub(super) fn skip(&mut self, n: u64, what: &dyn Display) -> Result<()> {
        self.ensure(n, what)?;
        let copied = io::copy(&mut (&mut self.inner).take(n), &mut io::sink())
            .map_err(|e| self.io_error(e))?;
        if copied != n {
            return Err(self.io_error(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the file shrank while reading {what}"),
            )));
        }
        self.pos += n;
        Ok(())
    }
}

/// Longest reason kept whole, in characters.
const MAX_REASON_CHARS: usize = 1000;

/// `reason`, or its first and last 480 characters around `[... N characters ...]`.
fn shorten(reason: String) -> String {
    let n = reason.chars().count();
    if n <= MAX_REASON_CHARS {
        return reason;
    }
    let head: String = reason.chars().take(480).collect();
    let tail: String = reason.chars().skip(n - 480).collect();
    format!("{head}[... {} characters ...]{tail}", n - 960)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_reads_past_the_declared_end() {
        let data = [1u8, 0, 0, 0, 9, 9];
        let mut r = Reader::new(&data[..], 5, Path::new("x.gguf"));
        assert_eq!(r.u32(&"a").unwrap(), 1);
        let err = r.u32(&"the thing").unwrap_err().to_string();
        assert!(err.contains("x.gguf") && err.contains("the thing") && err.contains("truncated"));
    }

    #[test]
    fn long_reasons_keep_start_and_end() {
        let r = Reader::new(&[][..], 0, Path::new("x.gguf"));
        let text = r
            .invalid(format!("key '{}' is bad", "k".repeat(100_000)))
            .to_string();
        assert!(text.len() < 1200, "{}", text.len());
        assert!(
            text.contains("key 'kkk") && text.ends_with("kk' is bad"),
            "{text}"
        );
        assert!(text.contains("[... 99053 characters ...]"), "{text}");
    }

    #[test]
    fn string_length_past_end() {
        let mut data = 100u64.to_le_bytes().to_vec();
        data.extend_from_slice(b"abc");
        let len = data.len() as u64;
        let mut r = Reader::new(&data[..], len, Path::new("x.gguf"));
        let err = r.string(&"key 0").unwrap_err().to_string();
        assert!(err.contains("past the end of the file"), "{err}");
    }
}
