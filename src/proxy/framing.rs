//! Finding where an HTTP/1.1 body ends without decoding it, for request bodies (the connection
//! loop and the hyper transport) and answer bodies (the lean transport) alike.

/// Finds where a chunked body ends without decoding it (the bytes pass through as they are).
#[derive(Default, Debug)]
pub struct ChunkScan {
    state: ChunkState,
    size: u64,
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum ChunkState {
    #[default]
    Size,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    FinalLf,
}

impl ChunkScan {
    /// Feeds the next bytes; `Some(n)` when the body ends after `data[..n]`.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<usize>, &'static str> {
        use ChunkState::*;
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            match self.state {
                Size => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                        if self.size > (u64::MAX >> 4) {
                            return Err("a chunk size that overflows");
                        }
                        self.size = self.size * 16 + d;
                    }
                    b';' | b' ' | b'\t' => self.state = Extension,
                    b'\r' => self.state = SizeLf,
                    b'\n' => self.after_size(),
                    _ => return Err("a chunk size that is not hex"),
                },
                Extension => match b {
                    b'\r' => self.state = SizeLf,
                    b'\n' => self.after_size(),
                    _ => {}
                },
                SizeLf if b == b'\n' => self.after_size(),
                SizeLf => return Err("a chunk size line without LF"),
                Data => {
                    let n = (self.size).min((data.len() - i) as u64) as usize;
                    self.size -= n as u64;
                    i += n;
                    if self.size == 0 {
                        self.state = DataCr;
                    }
                    continue;
                }
                DataCr => match b {
                    b'\r' => self.state = DataLf,
                    b'\n' => self.state = Size,
                    _ => return Err("chunk data longer than its size"),
                },
                DataLf if b == b'\n' => self.state = Size,
                DataLf => return Err("chunk data longer than its size"),
                TrailerStart => match b {
                    b'\r' => self.state = FinalLf,
                    b'\n' => return Ok(Some(i + 1)),
                    _ => self.state = TrailerLine,
                },
                TrailerLine if b == b'\n' => self.state = TrailerStart,
                TrailerLine => {}
                FinalLf if b == b'\n' => return Ok(Some(i + 1)),
                FinalLf => return Err("a chunked body that does not end with CRLF"),
            }
            i += 1;
        }
        Ok(None)
    }

    fn after_size(&mut self) {
        self.state = if self.size == 0 {
            ChunkState::TrailerStart
        } else {
            ChunkState::Data
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(parts: &[&[u8]]) -> Result<Option<usize>, &'static str> {
        let mut s = ChunkScan::default();
        let mut total = 0;
        for p in parts {
            if let Some(end) = s.feed(p)? {
                return Ok(Some(total + end));
            }
            total += p.len();
        }
        Ok(None)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Any well-formed chunked body, cut anywhere and followed by more bytes: the scan
        /// ends exactly after it; arbitrary bytes never panic it.
        #[test]
        fn chunked_scan_finds_the_end_of_any_body(
            sizes in proptest::collection::vec(1usize..300, 0..6),
            ext in proptest::bool::ANY,
            trailers in proptest::collection::vec("[A-Za-z-]{1,12}: [ -~]{0,20}", 0..3),
            cut in 0usize..4000,
            garbage in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            let mut body = Vec::new();
            for (i, n) in sizes.iter().enumerate() {
                body.extend_from_slice(format!("{n:x}").as_bytes());
                if ext {
                    body.extend_from_slice(b";name=value");
                }
                body.extend_from_slice(b"\r\n");
                body.extend((0..*n).map(|j| (i * 31 + j) as u8));
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"0\r\n");
            for t in &trailers {
                body.extend_from_slice(t.as_bytes());
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"\r\n");
            let end = body.len();
            body.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
            let cut = cut % (body.len() + 1);
            let (a, b) = body.split_at(cut);
            proptest::prop_assert_eq!(scan_all(&[a, b]), Ok(Some(end)));
            let _ = scan_all(&[&garbage]);
        }
    }

    #[test]
    fn chunked_ends_are_found_across_any_split() {
        let body = b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
        let end = body.len() - 4;
        for cut in 0..body.len() {
            let (a, b) = body.split_at(cut);
            assert_eq!(scan_all(&[a, b]), Ok(Some(end)), "cut at {cut}");
        }
        assert_eq!(scan_all(&[b"0\r\n\r\n"]), Ok(Some(5)));
        assert_eq!(scan_all(&[b"3\r\nabc\r\n"]), Ok(None));
        assert!(scan_all(&[b"zz\r\n"]).is_err());
        assert!(scan_all(&[b"3\r\nabcd\r\n"]).is_err());
        assert!(scan_all(&[b"ffffffffffffffffff\r\n"]).is_err());
    }
}
