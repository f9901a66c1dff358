//! Recording: one JSON line per exchange, appended and flushed as each exchange completes, with
//! secrets and signature values replaced by markers. Format (version 1):
//!
//! - line 1: `{"sigtap_recording": 1}`
//! - then per exchange: `{"id", "time", "request": {"method", "target", "headers", "body"},
//!   "response": {"status", "headers", "body"}, "duration_ms", "client": {"scheme", "carrier",
//!   "access_key", "verdict", "findings"}, "action", "resigned_as"}` where a body is
//!   `{"size", "sha256", "base64"?, "file"?}`: `base64` up to the inline limit; a larger body is
//!   stored beside the recording in `FILE.bodies/SHA256` (`file` is that path relative to the
//!   recording's folder), or kept only as hash and size (`--record-large hash`).
//!
//! What is masked is listed in [`crate::redact::record`]: session tokens (the client's and sigtap's own) in
//! every spelling anywhere in the line, signature values in headers, the target and answer
//! bodies; a body that was edited says `"redacted": true`. The file and its bodies are created
//! 0600 (the folder 0700) and never written through a symbolic link.
//!
//! A recording is untrusted input when read: [`check`] rejects a malformed line, a stored body
//! is opened only as `NAME.bodies/SHA256` in the recording's folder and never through a
//! symbolic link, and its bytes are used only when they hash to the recorded SHA-256.
//!
//! Submodules: [`read`] loads a recording ([`check`] checks each line's fields first), [`har`]
//! converts to and from HAR 1.2, [`replay`] re-sends a recording as a client, [`matcher`] finds
//! the recorded exchange for a request.

pub mod check;
mod files;
pub mod har;
pub mod matcher;
pub mod read;
pub mod replay;

/// Recording redaction lives with every other output's, in [`crate::redact::record`]; this
/// path stays for existing callers.
pub use crate::redact::record as redact;
pub use crate::redact::record::{redact_authorization, redact_header, redact_target};
use crate::redact::record::{Scrubber, MARK};

use crate::net::body::BoxError;
use base64::Engine;
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

pub const FORMAT_VERSION: u32 = 1;
/// Bodies up to this size are stored inline (base64); larger ones by hash and size only.
pub const DEFAULT_INLINE_LIMIT: usize = 64 * 1024;

/// Creates (or empties) a file to hold recorded exchanges (`import -o`, `export -o`): mode
/// 0600, never through a symbolic link.
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    files::open_private(path, files::Create::Replace)
}

/// Where bodies larger than the inline limit go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyStore {
    /// The folder (`FILE.bodies`), created on first use.
    pub dir: PathBuf,
    /// Its name relative to the recording's folder, as written in `file`.
    pub rel: String,
}

impl BodyStore {
    /// The store beside a recording file: `FILE.bodies/`.
    pub fn beside(recording: &Path) -> BodyStore {
        let name = recording
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "recording".into());
        let rel = format!("{name}.bodies");
        BodyStore {
            dir: recording.with_file_name(&rel),
            rel,
        }
    }
}

/// Appends exchanges to a recording file.
pub struct Recorder {
    file: Mutex<std::fs::File>,
    pub inline_limit: usize,
    /// Extra header names (lower-case) whose values are replaced by a marker (`--redact-header`).
    pub redact: Vec<String>,
    /// Large bodies stored beside the file; `None` keeps only their hash and size.
    pub bodies: Option<BodyStore>,
    /// XML element / JSON member names whose values are replaced in inline bodies.
    pub redact_body: Vec<String>,
    /// Session tokens sigtap itself holds (the key store's, the upstream identity's): masked
    /// wherever an exchange shows them.
    known: Vec<String>,
}

impl Recorder {
    /// Opens (or creates, mode 0600) a recording for appending. A path that is a symbolic
    /// link, or not a regular file, is refused.
    pub fn open(path: &Path, inline_limit: usize) -> std::io::Result<Recorder> {
        let mut file = files::open_private(path, files::Create::OrAppend)?;
        if file.metadata()?.len() == 0 {
            writeln!(file, "{}", json!({ "sigtap_recording": FORMAT_VERSION }))?;
            file.flush()?;
        }
        Ok(Recorder {
            file: Mutex::new(file),
            inline_limit,
            redact: Vec::new(),
            bodies: Some(BodyStore::beside(path)),
            redact_body: Vec::new(),
            known: Vec::new(),
        })
    }

    /// Session tokens to keep out of every exchange written from now on.
    pub fn keep_out(&mut self, tokens: impl IntoIterator<Item = String>) {
        self.known.extend(tokens);
    }

    /// A fresh capture for one body, spilling to the body store past the inline limit.
    pub fn capture(&self) -> Shared {
        Arc::new(Mutex::new(Captured {
            limit: self.inline_limit,
            store: self.bodies.clone(),
            ..Captured::default()
        }))
    }

    /// A body already in memory, in the recording's form.
    pub fn body_json(&self, b: &[u8]) -> Value {
        let cap = self.capture();
        let Ok(mut c) = cap.lock() else {
            return Value::Null;
        };
        c.add(b);
        c.finish();
        c.json()
    }

    /// Writes one exchange line and flushes it, after masking: the extra `--redact-header`
    /// and `--redact-body-field` markers, then the request's and sigtap's own session tokens
    /// everywhere, and signature values in headers, the target and answer bodies (inline or
    /// stored: a stored body is read again and rewritten when it held one).
    pub fn write(&self, line: &Line) {
        let mut exchange = line.value.clone();
        for side in ["request", "response"] {
            if let Some(Value::Array(hs)) = exchange.pointer_mut(&format!("/{side}/headers")) {
                for h in hs.iter_mut() {
                    if let Some([Value::String(name), value]) =
                        h.as_array_mut().map(Vec::as_mut_slice)
                    {
                        if self.redact.contains(&name.to_ascii_lowercase()) {
                            *value = json!(MARK);
                        }
                    }
                }
            }
            if self.redact_body.is_empty() {
                continue;
            }
            if let Some(body) = exchange.pointer_mut(&format!("/{side}/body")) {
                redact_body(body, &self.redact_body);
            }
        }
        let mut secrets = line.tokens.clone();
        secrets.extend(self.known.iter().cloned());
        scrub_exchange(&mut exchange, &secrets, |body, s| self.scrub_body(body, s));
        // one write per line: a reader never sees half an exchange, and Display on an
        // unbuffered file would cost a syscall per JSON fragment
        let mut line = exchange.to_string();
        line.push('\n');
        if let Ok(mut f) = self.file.lock() {
            let _ = f.write_all(line.as_bytes());
            let _ = f.flush();
        }
    }
}

impl Recorder {
    /// Masks secrets in a body, inline or stored; its hash then describes the stored bytes and
    /// `"redacted": true` says they are not the bytes sent. A stored body that cannot be
    /// checked is not kept.
    fn scrub_body(&self, body: &mut Value, s: &Scrubber) {
        if s.is_empty() {
            return;
        }
        if scrub_inline(body, s) {
            return;
        }
        let (Some(store), Some(file)) = (&self.bodies, body["file"].as_str()) else {
            return;
        };
        let Some(name) = file
            .strip_prefix(store.rel.as_str())
            .and_then(|f| f.strip_prefix('/'))
        else {
            return;
        };
        let path = store.dir.join(name);
        match files::scrub_stored(&store.dir, &path, s) {
            Ok(None) => {}
            Ok(Some(sha)) => {
                body["sha256"] = json!(sha);
                body["file"] = json!(format!("{}/{sha}", store.rel));
                body["redacted"] = json!(true);
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                if let Some(o) = body.as_object_mut() {
                    o.remove("file");
                }
                body["store_error"] = json!(format!(
                    "{}: could not be checked for secrets, so it was not kept: {e}",
                    path.display()
                ));
            }
        }
    }
}

/// Masks `secrets` (session tokens, in every spelling) everywhere in an exchange line, and
/// signature values in its target, headers and answer body; `body` does it for each body with
/// the scrubber for its side (an upload is kept as sent but for the tokens; an answer may echo
/// anything).
pub(crate) fn scrub_exchange(
    x: &mut Value,
    secrets: &[String],
    mut body: impl FnMut(&mut Value, &Scrubber),
) {
    let tokens = Scrubber::new(secrets, false);
    let everything = Scrubber::new(secrets, true);
    if let Some(Value::String(t)) = x.pointer_mut("/request/target") {
        if let Some(clean) = everything.scrub_str(t) {
            *t = clean;
        }
    }
    for side in ["request", "response"] {
        if let Some(Value::Array(hs)) = x.pointer_mut(&format!("/{side}/headers")) {
            for h in hs.iter_mut() {
                if let Some([_, Value::String(value)]) = h.as_array_mut().map(Vec::as_mut_slice) {
                    if let Some(clean) = everything.scrub_str(value) {
                        *value = clean;
                    }
                }
            }
        }
        if let Some(b) = x.pointer_mut(&format!("/{side}/body")) {
            body(
                b,
                if side == "request" {
                    &tokens
                } else {
                    &everything
                },
            );
        }
    }
}

/// Masks secrets in an inline body (`base64`); true when the body is inline.
pub(crate) fn scrub_inline(body: &mut Value, s: &Scrubber) -> bool {
    let engine = &base64::engine::general_purpose::STANDARD;
    let Some(text) = body["base64"].as_str() else {
        return false;
    };
    let Ok(mut bytes) = engine.decode(text) else {
        return true;
    };
    if s.scrub(&mut bytes, true) > 0 {
        body["sha256"] = json!(crate::sig::encode::hex(&Sha256::digest(&bytes)));
        body["base64"] = json!(engine.encode(&bytes));
        body["redacted"] = json!(true);
    }
    true
}

/// Replaces the values of `fields` in an inline XML or JSON body; the hash and size then
/// describe the redacted bytes and `"redacted": true` says so (matching skips such bodies).
fn redact_body(body: &mut Value, fields: &[String]) {
    let engine = &base64::engine::general_purpose::STANDARD;
    let Some(bytes) = body["base64"].as_str().and_then(|b| engine.decode(b).ok()) else {
        return;
    };
    let Some(new) = redact_fields(&bytes, fields) else {
        return;
    };
    body["size"] = json!(new.len());
    body["sha256"] = json!(crate::sig::encode::hex(&Sha256::digest(&new)));
    body["base64"] = json!(engine.encode(&new));
    body["redacted"] = json!(true);
}

/// The body with the named fields' values replaced, or `None` when nothing was replaced.
pub fn redact_fields(bytes: &[u8], fields: &[String]) -> Option<Vec<u8>> {
    fn walk(v: &mut Value, fields: &[String]) -> bool {
        let mut hit = false;
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if fields.iter().any(|f| f == k) {
                        *x = json!(MARK);
                        hit = true;
                    } else {
                        hit |= walk(x, fields);
                    }
                }
            }
            Value::Array(a) => {
                for x in a {
                    hit |= walk(x, fields);
                }
            }
            _ => {}
        }
        hit
    }
    if let Ok(mut v) = serde_json::from_slice::<Value>(bytes) {
        return walk(&mut v, fields).then(|| v.to_string().into_bytes());
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let mut out = text.to_string();
    for f in fields {
        let (open, close) = (format!("<{f}>"), format!("</{f}>"));
        let mut from = 0;
        while let Some(i) = out[from..].find(&open).map(|i| i + from + open.len()) {
            let Some(j) = out[i..].find(&close).map(|j| j + i) else {
                break;
            };
            out.replace_range(i..j, MARK);
            from = i + MARK.len() + close.len();
        }
    }
    (out != text).then(|| out.into_bytes())
}

/// One exchange ready for [`Recorder::write`], with the session tokens its request carried
/// (never written: the recorder masks them wherever the exchange shows them).
pub struct Line {
    pub value: Value,
    tokens: Vec<String>,
}

/// One exchange line, from the request's outcome and the response.
pub fn exchange(
    rec: &crate::outcome::Record,
    resp_headers: &[(String, String)],
    resp_body: Value,
) -> Line {
    let req_body = rec
        .req_body
        .as_ref()
        .and_then(|c| c.lock().ok().map(|mut c| c.finish_json()))
        .unwrap_or_else(|| json!({ "size": 0, "sha256": null }));
    let headers = |h: &[(String, String)]| -> Vec<Value> {
        h.iter()
            .map(|(k, v)| json!([k, redact_header(k, v)]))
            .collect()
    };
    let findings: Vec<Value> = rec
        .findings
        .iter()
        .map(|f| json!({ "code": f.code, "severity": f.severity.as_str(), "cause": f.cause }))
        .collect();
    let value = json!({
        "id": rec.id,
        "time": rec.time,
        "request": {
            "method": rec.method,
            "target": redact_target(&rec.target),
            "headers": headers(&rec.req_headers),
            "body": req_body,
        },
        "response": { "status": rec.status, "headers": headers(resp_headers), "body": resp_body },
        "duration_ms": rec.duration_ms,
        "client": {
            "scheme": rec.scheme, "carrier": rec.carrier, "access_key": rec.access_key,
            "verdict": rec.verdict, "findings": findings,
        },
        "action": rec.action,
        "resigned_as": rec.resigned_as,
    });
    Line {
        value,
        tokens: rec.tokens.clone(),
    }
}

/// What a body looked like, captured while it streamed.
#[derive(Debug, Default)]
pub struct Captured {
    pub inline: Vec<u8>,
    pub size: u64,
    pub too_large: bool,
    hasher: Option<Sha256>,
    pub sha256: Option<String>,
    limit: usize,
    store: Option<BodyStore>,
    /// The body being written to the store (a temporary name until its hash is known).
    spill: Option<(PathBuf, std::io::BufWriter<std::fs::File>)>,
    /// The stored body's path relative to the recording's folder, once finished.
    stored: Option<String>,
    /// Why a body that should have been stored was not (disk full, ...).
    store_error: Option<String>,
}

impl Captured {
    pub fn json(&self) -> Value {
        let mut o = json!({ "size": self.size, "sha256": self.sha256 });
        if !self.too_large {
            o["base64"] = json!(base64::engine::general_purpose::STANDARD.encode(&self.inline));
        } else if let Some(f) = &self.stored {
            o["file"] = json!(f);
        } else if let Some(e) = &self.store_error {
            o["store_error"] = json!(e);
        }
        o
    }

    fn add(&mut self, data: &[u8]) {
        self.size += data.len() as u64;
        self.hasher.get_or_insert_with(Sha256::new).update(data);
        if !self.too_large {
            if self.inline.len() + data.len() > self.limit {
                self.too_large = true;
                let held = std::mem::take(&mut self.inline);
                self.start_spill();
                self.spill_write(&held);
                self.spill_write(data);
            } else {
                self.inline.extend_from_slice(data);
            }
        } else {
            self.spill_write(data);
        }
    }

    fn start_spill(&mut self) {
        let Some(store) = &self.store else { return };
        let tmp = files::temp_name(&store.dir, "partial");
        let opened = files::body_folder(&store.dir)
            .and_then(|_| files::open_private(&tmp, files::Create::New));
        match opened {
            Ok(f) => self.spill = Some((tmp, std::io::BufWriter::with_capacity(256 * 1024, f))),
            Err(e) => self.store_error = Some(format!("{}: {e}", store.dir.display())),
        }
    }

    fn spill_write(&mut self, data: &[u8]) {
        if let Some((tmp, w)) = &mut self.spill {
            if let Err(e) = w.write_all(data) {
                self.store_error = Some(format!("{}: {e}", tmp.display()));
                let _ = std::fs::remove_file(tmp);
                self.spill = None;
            }
        }
    }

    /// Finishes the hash and moves a spilled body to its content address (idempotent).
    pub fn finish(&mut self) {
        if self.sha256.is_none() {
            let h = self.hasher.take().unwrap_or_default();
            self.sha256 = Some(crate::sig::encode::hex(&h.finalize()));
        }
        if let (Some((tmp, mut w)), Some(store), Some(sha)) =
            (self.spill.take(), &self.store, &self.sha256)
        {
            let done = w
                .flush()
                .and_then(|_| std::fs::rename(&tmp, store.dir.join(sha)));
            match done {
                Ok(()) => self.stored = Some(format!("{}/{sha}", store.rel)),
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    self.store_error = Some(format!("{}: {e}", store.dir.display()));
                }
            }
        }
    }
}

impl crate::outcome::Capture for Captured {
    fn finish_json(&mut self) -> Value {
        self.finish();
        self.json()
    }
}

pub type Shared = Arc<Mutex<Captured>>;
type OnEnd = Box<dyn FnOnce() + Send + Sync>;

/// Passes a body through while capturing it; runs `on_end` once the body has ended.
pub struct Tee<B> {
    inner: B,
    cap: Shared,
    on_end: Option<OnEnd>,
}

impl<B> Tee<B> {
    pub fn new(inner: B, cap: Shared, on_end: Option<OnEnd>) -> Self {
        Tee { inner, cap, on_end }
    }
}

impl<B> Body for Tee<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(d), Ok(mut c)) = (frame.data_ref(), this.cap.lock()) {
                    c.add(d);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                if let Ok(mut c) = this.cap.lock() {
                    c.finish();
                }
                if let Some(f) = this.on_end.take() {
                    f();
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        // what wraps this body (the hash check) must know the last frame when it comes; the
        // exchange is completed on drop when nobody polls past the end
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// hyper stops polling a body once it has sent `Content-Length` bytes (or never polls an empty
/// one), so the exchange is also completed when the body is dropped.
impl<B> Drop for Tee<B> {
    fn drop(&mut self) {
        if let Some(f) = self.on_end.take() {
            if let Ok(mut c) = self.cap.lock() {
                c.finish();
            }
            f();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_what_matching_needs() {
        assert_eq!(
            redact_authorization("AWS4-HMAC-SHA256 Credential=AK/20250101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcdef"),
            "AWS4-HMAC-SHA256 Credential=AK/20250101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=<redacted>"
        );
        assert_eq!(
            redact_authorization("q-sign-algorithm=sha1&q-ak=AK&q-signature=0123&q-x=1"),
            "q-sign-algorithm=sha1&q-ak=AK&q-signature=<redacted>&q-x=1"
        );
        assert_eq!(redact_authorization("AWS AK:c2ln"), "AWS AK:<redacted>");
        assert_eq!(
            redact_target("/b/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=ff&X-Amz-Security-Token=tok&a=1"),
            "/b/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=<redacted>&X-Amz-Security-Token=<redacted>&a=1"
        );
        assert_eq!(
            redact_header("X-Amz-Security-Token", "secret"),
            "<redacted>"
        );
        assert_eq!(redact_header("Content-Type", "text/plain"), "text/plain");
    }

    #[test]
    fn body_fields_are_redacted_in_xml_and_json() {
        let f = vec!["Password".to_string()];
        assert_eq!(
            redact_fields(
                b"<A><Password>p1</Password><B/><Password>p2</Password></A>",
                &f
            )
            .unwrap(),
            b"<A><Password><redacted></Password><B/><Password><redacted></Password></A>"
        );
        assert_eq!(
            redact_fields(br#"{"a":{"Password":"x"},"b":1}"#, &f).unwrap(),
            br#"{"a":{"Password":"<redacted>"},"b":1}"#
        );
        assert!(redact_fields(b"nothing here", &f).is_none());
    }

    #[test]
    fn captures_inline_then_hash_only() {
        let mut c = Captured {
            limit: 4,
            ..Captured::default()
        };
        c.add(b"abc");
        c.add(b"de");
        c.finish();
        assert!(c.too_large);
        assert_eq!(c.size, 5);
        assert!(c.json().get("base64").is_none());
        assert!(c.json().get("file").is_none());
    }

    #[test]
    fn large_bodies_are_stored_by_content_hash() {
        let dir = std::env::temp_dir().join(format!("sigtap-store-{}", std::process::id()));
        let store = BodyStore::beside(&dir.join("s.jsonl"));
        let mut c = Captured {
            limit: 4,
            store: Some(store.clone()),
            ..Captured::default()
        };
        c.add(b"abc");
        c.add(b"defg");
        c.finish();
        let j = c.json();
        let sha = "7d1a54127b222502f5b79b5fb0803061152a44f92b37e23c6527baf665d4da9a";
        assert_eq!(j["sha256"], sha);
        assert_eq!(j["file"], format!("s.jsonl.bodies/{sha}"));
        assert_eq!(std::fs::read(store.dir.join(sha)).unwrap(), b"abcdefg");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
