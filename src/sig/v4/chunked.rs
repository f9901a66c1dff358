//! aws-chunked bodies: an incremental decoder, the seed -> chunk -> final chunk -> trailer
//! signature chain, a streaming verifier and an encoder. None of them holds the body:
//! memory is one header line (bounded) plus the running hash.

use crate::sig::crypto::{ct_eq, hmac_sha256, sha256, EMPTY_SHA256};
use crate::sig::encode::clip;
use crate::sig::encode::hex;
use sha2::{Digest, Sha256};

/// Longest chunk-size line accepted (size, extensions, signature).
pub const MAX_LINE: usize = 4096;
/// Largest trailer section accepted (as s3s does).
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// A framing error at a byte offset of the aws-chunked stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkError {
    pub offset: u64,
    pub message: String,
}

impl std::fmt::Display for ChunkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.message)
    }
}

/// What the decoder found.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A chunk header; `offset` is where its size line starts in the stream.
    ChunkStart {
        index: u64,
        size: u64,
        signature: Option<&'a str>,
        offset: u64,
    },
    Data(&'a [u8]),
    ChunkEnd,
    Trailer {
        name: &'a str,
        value: &'a str,
    },
    /// The end of the stream (after the trailer section, if any).
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    SizeLine,
    Data(u64),
    DataCrlf,
    TrailerLine,
    Done,
}

/// Incremental aws-chunked decoder: feed it any slices, it emits events in order.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    line: Vec<u8>,
    offset: u64,
    line_start: u64,
    index: u64,
    last_size: Option<u64>,
    trailer_bytes: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Decoder {
            state: State::SizeLine,
            line: Vec::new(),
            offset: 0,
            line_start: 0,
            index: 0,
            last_size: None,
            trailer_bytes: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn err(&self, message: impl Into<String>) -> ChunkError {
        ChunkError {
            offset: self.offset,
            message: message.into(),
        }
    }

    /// Consumes `input`, calling `sink` for every event.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        sink: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), ChunkError> {
        while !input.is_empty() {
            match self.state {
                State::Done => {
                    return Err(self.err(format!(
                        "{} bytes after the end of the aws-chunked stream",
                        input.len()
                    )))
                }
                State::Data(remaining) => {
                    let n = remaining.min(input.len() as u64) as usize;
                    sink(Event::Data(&input[..n]));
                    input = &input[n..];
                    self.offset += n as u64;
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::DataCrlf
                    } else {
                        State::Data(left)
                    };
                }
                State::DataCrlf => {
                    let need = 2 - self.line.len();
                    let n = need.min(input.len());
                    self.line.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    self.offset += n as u64;
                    if self.line.len() == 2 {
                        if self.line != b"\r\n" {
                            return Err(self.err(
                                "chunk data is not followed by CRLF (the size line understates the data)",
                            ));
                        }
                        self.line.clear();
                        sink(Event::ChunkEnd);
                        self.state = State::SizeLine;
                        self.line_start = self.offset;
                    }
                }
                State::SizeLine | State::TrailerLine => {
                    if self.line.is_empty() {
                        self.line_start = self.offset;
                    }
                    let nl = input.iter().position(|b| *b == b'\n');
                    let take = nl.map(|i| i + 1).unwrap_or(input.len());
                    let limit = if self.state == State::SizeLine {
                        MAX_LINE
                    } else {
                        MAX_TRAILER_BYTES
                    };
                    if self.line.len() + take > limit {
                        return Err(self.err(format!("a line longer than {limit} bytes")));
                    }
                    self.line.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    self.offset += take as u64;
                    if nl.is_some() {
                        let line = std::mem::take(&mut self.line);
                        self.finish_line(&line, sink)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn finish_line(
        &mut self,
        raw: &[u8],
        sink: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), ChunkError> {
        let Some(line) = raw.strip_suffix(b"\r\n") else {
            return Err(self.err("a line ends in a bare LF instead of CRLF"));
        };
        let line = std::str::from_utf8(line).map_err(|_| self.err("a chunk line is not UTF-8"))?;
        if self.state == State::TrailerLine {
            if line.is_empty() {
                self.state = State::Done;
                sink(Event::End);
                return Ok(());
            }
            self.trailer_bytes += raw.len();
            if self.trailer_bytes > MAX_TRAILER_BYTES {
                return Err(self.err("the trailer section is larger than 16 KiB"));
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| self.err(format!("trailer line {:?} has no ':'", clip(line))))?;
            sink(Event::Trailer {
                name: name.trim(),
                value: value.trim(),
            });
            return Ok(());
        }
        let mut parts = line.split(';');
        let size_text = parts.next().unwrap_or("").trim();
        if size_text.is_empty()
            || size_text.len() > 16
            || !size_text.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(self.err(format!("chunk size {:?} is not hex", clip(size_text))));
        }
        let size =
            u64::from_str_radix(size_text, 16).map_err(|_| self.err("chunk size overflows"))?;
        let mut signature = None;
        for ext in parts {
            if let Some(sig) = ext.trim().strip_prefix("chunk-signature=") {
                signature = Some(sig.trim());
            }
        }
        sink(Event::ChunkStart {
            index: self.index,
            size,
            signature,
            offset: self.line_start,
        });
        self.index += 1;
        self.last_size = Some(size);
        if size == 0 {
            sink(Event::ChunkEnd);
            self.state = State::TrailerLine;
        } else {
            self.state = State::Data(size);
        }
        Ok(())
    }

    /// Call at the end of input: a stream that stopped early is an error.
    pub fn finish(&self) -> Result<(), ChunkError> {
        match self.state {
            State::Done => Ok(()),
            State::Data(left) => Err(self.err(format!(
                "the stream ends {left} bytes into a chunk's data (truncated, or the size line overstates it)"
            ))),
            _ if self.last_size == Some(0) => Err(self.err(
                "the stream ends without the CRLF that closes the final chunk / trailer section",
            )),
            _ => Err(self.err("the stream ends before the final zero-length chunk")),
        }
    }
}

/// The chained signatures of a signed aws-chunked upload.
#[derive(Clone)]
pub struct ChainSigner {
    key: [u8; 32],
    amz_date: String,
    scope: String,
    prev: String,
}

impl std::fmt::Debug for ChainSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainSigner")
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .field("prev", &self.prev)
            .finish_non_exhaustive()
    }
}

impl ChainSigner {
    /// `seed` is the request's own (header) signature.
    pub fn new(key: [u8; 32], amz_date: &str, scope: &str, seed: &str) -> Self {
        ChainSigner {
            key,
            amz_date: amz_date.to_string(),
            scope: scope.to_string(),
            prev: seed.to_string(),
        }
    }

    pub fn previous(&self) -> &str {
        &self.prev
    }

    /// The string to sign of the next chunk, given the hex SHA-256 of its data.
    pub fn chunk_string_to_sign(&self, data_sha256_hex: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{data_sha256_hex}",
            self.amz_date, self.scope, self.prev
        )
    }

    /// The next chunk's signature (without advancing).
    pub fn peek(&self, data_sha256_hex: &str) -> String {
        hex(&hmac_sha256(
            &self.key,
            self.chunk_string_to_sign(data_sha256_hex).as_bytes(),
        ))
    }

    /// Moves the chain on to `signature` (the one the stream carried).
    pub fn advance(&mut self, signature: &str) {
        self.prev = signature.to_string();
    }

    /// Signs the next chunk and advances.
    pub fn sign_chunk(&mut self, data: &[u8]) -> String {
        let sig = self.peek(&hex(&sha256(data)));
        self.prev = sig.clone();
        sig
    }

    /// The trailer signature after the final chunk.
    pub fn trailer_signature(&self, trailers: &[(String, String)]) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.prev,
            hex(&sha256(canonical_trailers(trailers).as_bytes()))
        );
        hex(&hmac_sha256(&self.key, sts.as_bytes()))
    }
}

/// `lower(name):trim(value)\n` per trailer, sorted by name, signature line excluded.
pub fn canonical_trailers(trailers: &[(String, String)]) -> String {
    let mut v: Vec<(String, String)> = trailers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("x-amz-trailer-signature"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    v.sort();
    v.iter().map(|(k, v)| format!("{k}:{v}\n")).collect()
}

/// The first chunk whose signature did not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadChunk {
    pub index: u64,
    /// Byte offset of the chunk's size line in the aws-chunked stream.
    pub offset: u64,
    pub expected: String,
    pub provided: String,
}

/// What a verifier saw in a whole stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkReport {
    /// Chunks including the final zero-length one.
    pub chunks: u64,
    pub decoded_length: u64,
    pub first_bad: Option<BadChunk>,
    pub trailers: Vec<(String, String)>,
    /// `Some(false)` when a trailer signature was present (or required) and wrong.
    pub trailer_signature_ok: Option<bool>,
    pub framing_error: Option<ChunkError>,
}

/// Verifies (signed mode) or just decodes (unsigned mode) an aws-chunked stream as it flows.
#[derive(Debug)]
pub struct ChunkVerifier {
    decoder: Decoder,
    chain: Option<ChainSigner>,
    hasher: Sha256,
    current: Option<(u64, u64, Option<String>)>,
    report: ChunkReport,
    trailer_sig: Option<String>,
}

impl ChunkVerifier {
    /// `chain` is `Some` for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`.
    pub fn new(chain: Option<ChainSigner>) -> Self {
        ChunkVerifier {
            decoder: Decoder::new(),
            chain,
            hasher: Sha256::new(),
            current: None,
            report: ChunkReport::default(),
            trailer_sig: None,
        }
    }

    /// Feeds bytes of the stream; after a framing error, further input is ignored.
    pub fn feed(&mut self, input: &[u8]) {
        if self.report.framing_error.is_some() {
            return;
        }
        let mut events: Vec<Ev> = Vec::new();
        let res = self.decoder.feed(input, &mut |e| events.push(Ev::from(e)));
        for e in events {
            self.on_event(e);
        }
        if let Err(e) = res {
            self.report.framing_error.get_or_insert(e);
        }
    }

    fn on_event(&mut self, e: Ev) {
        match e {
            Ev::Start(index, size, sig, offset) => {
                if self.chain.is_some() && sig.is_none() && self.report.framing_error.is_none() {
                    self.report.framing_error = Some(ChunkError {
                        offset,
                        message: format!("chunk {index} has no chunk-signature in a signed stream"),
                    });
                }
                self.hasher = Sha256::new();
                self.current = Some((index, offset, sig));
                self.report.decoded_length += size;
            }
            Ev::Data(d) => self.hasher.update(&d),
            Ev::End => {
                if let Some(chain) = &self.chain {
                    let provided = self.trailer_sig.clone();
                    if !self.report.trailers.is_empty() || provided.is_some() {
                        let expected = chain.trailer_signature(&self.report.trailers);
                        self.report.trailer_signature_ok =
                            Some(provided.is_some_and(|p| ct_eq(&expected, &p)));
                    }
                }
            }
            Ev::ChunkEnd => {
                self.report.chunks += 1;
                let digest = hex(&std::mem::take(&mut self.hasher).finalize());
                let Some((index, offset, provided)) = self.current.take() else {
                    return;
                };
                if let (Some(chain), Some(provided)) = (self.chain.as_mut(), provided) {
                    let expected = chain.peek(&digest);
                    if !ct_eq(&expected, &provided) && self.report.first_bad.is_none() {
                        self.report.first_bad = Some(BadChunk {
                            index,
                            offset,
                            expected: expected.clone(),
                            provided: provided.clone(),
                        });
                    }
                    chain.advance(&provided);
                }
            }
            Ev::Trailer(name, value) => {
                if name.eq_ignore_ascii_case("x-amz-trailer-signature") {
                    self.trailer_sig = Some(value);
                } else {
                    self.report.trailers.push((name, value));
                }
            }
        }
    }

    /// Ends the stream and returns what was found.
    pub fn finish(mut self) -> ChunkReport {
        if self.report.framing_error.is_none() {
            if let Err(e) = self.decoder.finish() {
                self.report.framing_error = Some(e);
            }
        }
        self.report
    }
}

/// Owned copy of an event (the verifier processes them after the decoder returns).
enum Ev {
    Start(u64, u64, Option<String>, u64),
    Data(Vec<u8>),
    ChunkEnd,
    Trailer(String, String),
    End,
}

impl From<Event<'_>> for Ev {
    fn from(e: Event<'_>) -> Self {
        match e {
            Event::ChunkStart {
                index,
                size,
                signature,
                offset,
            } => Ev::Start(index, size, signature.map(str::to_string), offset),
            Event::Data(d) => Ev::Data(d.to_vec()),
            Event::ChunkEnd => Ev::ChunkEnd,
            Event::Trailer { name, value } => Ev::Trailer(name.to_string(), value.to_string()),
            Event::End => Ev::End,
        }
    }
}

/// Frames one data chunk (signed when a chain is given).
pub fn encode_chunk(chain: Option<&mut ChainSigner>, data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}", data.len()).into_bytes();
    if let Some(c) = chain {
        out.extend_from_slice(b";chunk-signature=");
        out.extend_from_slice(c.sign_chunk(data).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// The final zero-length chunk plus the trailer section (signed when a chain is given).
pub fn encode_final(mut chain: Option<&mut ChainSigner>, trailers: &[(String, String)]) -> Vec<u8> {
    let mut out = b"0".to_vec();
    if let Some(c) = chain.as_deref_mut() {
        out.extend_from_slice(b";chunk-signature=");
        out.extend_from_slice(c.sign_chunk(b"").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    for (k, v) in trailers {
        out.extend_from_slice(format!("{k}:{v}\r\n").as_bytes());
    }
    if let (Some(c), false) = (chain, trailers.is_empty()) {
        out.extend_from_slice(
            format!(
                "x-amz-trailer-signature:{}\r\n",
                c.trailer_signature(trailers)
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sig::v4::signing_key;

    fn docs_chain() -> ChainSigner {
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524",
            "us-east-1",
            "s3",
        );
        ChainSigner::new(
            key,
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        )
    }

    #[test]
    fn s3_documentation_chunk_chain() {
        let mut c = docs_chain();
        assert_eq!(
            c.sign_chunk(&[b'a'; 65536]),
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        );
        assert_eq!(
            c.sign_chunk(&[b'a'; 1024]),
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
        );
        assert_eq!(
            c.sign_chunk(b""),
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
        );
    }

    #[test]
    fn encode_then_verify_in_odd_pieces() {
        let mut signer = docs_chain();
        let mut body = encode_chunk(Some(&mut signer), &[7u8; 9000]);
        body.extend(encode_chunk(Some(&mut signer), b"tail"));
        let trailers = vec![("x-amz-checksum-crc32".to_string(), "AAAAAA==".to_string())];
        body.extend(encode_final(Some(&mut signer), &trailers));
        for piece in [1usize, 3, 17, 4096, body.len()] {
            let mut v = ChunkVerifier::new(Some(docs_chain()));
            for part in body.chunks(piece) {
                v.feed(part);
            }
            let r = v.finish();
            assert_eq!(r.framing_error, None, "piece {piece}");
            assert_eq!(r.first_bad, None);
            assert_eq!(r.chunks, 3);
            assert_eq!(r.decoded_length, 9004);
            assert_eq!(r.trailer_signature_ok, Some(true));
            assert_eq!(r.trailers, trailers);
        }
        // a changed data byte is caught in the right chunk
        let mut bad = body.clone();
        let at = bad.len() - 60;
        bad[at] ^= 1;
        let mut v = ChunkVerifier::new(Some(docs_chain()));
        v.feed(&bad);
        let r = v.finish();
        assert!(
            r.first_bad.is_some()
                || r.framing_error.is_some()
                || r.trailer_signature_ok == Some(false)
        );
    }

    #[test]
    fn truncation_and_lying_sizes_are_framing_errors() {
        let mut signer = docs_chain();
        let mut body = encode_chunk(Some(&mut signer), b"hello");
        body.extend(encode_final(Some(&mut signer), &[]));
        let mut v = ChunkVerifier::new(Some(docs_chain()));
        v.feed(&body[..body.len() - 3]);
        assert!(v.finish().framing_error.is_some());
        let lying = b"3;chunk-signature=00\r\nhello\r\n0\r\n\r\n";
        let mut v = ChunkVerifier::new(None);
        v.feed(lying);
        assert!(v.finish().framing_error.is_some());
        let unsigned =
            b"17\r\nhello aws-chunked world\r\n0\r\nx-amz-checksum-crc32:BUkbhQ==\r\n\r\n";
        let mut v = ChunkVerifier::new(None);
        v.feed(unsigned);
        let r = v.finish();
        assert_eq!(r.framing_error, None);
        assert_eq!(r.decoded_length, 23);
    }

    #[test]
    fn trailer_reference_value() {
        // aws-c-auth: trailers first/second/third after final chunk b6c6ea8a...
        let mut c = docs_chain();
        c.advance("b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9");
        let t: Vec<(String, String)> = [("first", "1st"), ("second", "2nd"), ("third", "3rd")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert!(c.trailer_signature(&t).starts_with("df5735bd"));
    }
}
