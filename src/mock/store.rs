//! The mock's in-memory object store: buckets, objects, multipart uploads, and the S3 XML
//! answers for them (the COS XML API uses the same documents).

use crate::service_error::ErrorCode;
use crate::sig::encode::{decoded_text, percent_decode, split_query, text};
use crate::sig::v4::chunked::{Decoder, Event};
use crate::timefmt::{http_date, rfc3339};
use crate::wire::Request;
use bytes::Bytes;
use md5::{Digest, Md5};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Clone, Debug)]
struct Object {
    data: Bytes,
    etag: String,
    content_type: String,
    modified: i64,
}

#[derive(Debug, Default)]
struct Bucket {
    created: i64,
    objects: BTreeMap<String, Object>,
}

#[derive(Debug, Default)]
struct Inner {
    buckets: BTreeMap<String, Bucket>,
    uploads: BTreeMap<String, (String, String, BTreeMap<u32, Bytes>)>,
    next_upload: u64,
}

/// The store, shared by all connections.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
    budget: Budget,
}

/// How many bytes the mock may hold: stored objects and parts, plus request bodies being read.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    pub fn new(limit: u64) -> Budget {
        Budget {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// The limit (`--max-memory`), which is also the largest single body.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes held or reserved now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `n` bytes if the total stays within the limit.
    fn take(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|t| *t <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, n: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(n))
            });
    }

    /// An empty reservation for one request body.
    pub fn reserve(&self) -> Reservation<'_> {
        Reservation {
            budget: self,
            bytes: 0,
        }
    }
}

/// Bytes taken for one request's body: given back when dropped, unless the store keeps them
/// for the object it stores.
#[derive(Debug)]
pub struct Reservation<'a> {
    budget: &'a Budget,
    bytes: u64,
}

impl Reservation<'_> {
    /// Takes `n` more bytes; false (nothing taken) when the total would pass the limit.
    pub fn grow(&mut self, n: u64) -> bool {
        let ok = self.budget.take(n);
        if ok {
            self.bytes += n;
        }
        ok
    }

    /// Turns `n` bytes of this reservation into bytes held by the store (taking more if `n`
    /// is larger) and gives the rest back; false when the extra does not fit.
    fn keep(&mut self, n: u64) -> bool {
        if n > self.bytes && !self.budget.take(n - self.bytes) {
            return false;
        }
        self.budget.give_back(self.bytes.saturating_sub(n));
        self.bytes = 0;
        true
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

fn too_full(budget: &Budget, wanted: u64) -> Outcome {
    err(
        503,
        ErrorCode::ServiceUnavailable,
        full_message(budget, wanted),
    )
}

/// The message of a 503 for a body of `wanted` bytes (0 when unknown).
pub fn full_message(budget: &Budget, wanted: u64) -> String {
    format!(
        "sigtap mock: holding {} more would pass --max-memory {} bytes ({} MiB; {} bytes are held now): delete objects or start the mock with a larger --max-memory",
        if wanted == 0 {
            "this body".to_string()
        } else {
            format!("{wanted} bytes")
        },
        budget.limit,
        budget.limit >> 20,
        budget.used()
    )
}

/// What the store answers.
pub enum Outcome {
    Ok {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Bytes,
    },
    Err {
        status: u16,
        code: ErrorCode,
        message: String,
    },
}

fn err(status: u16, code: ErrorCode, message: impl Into<String>) -> Outcome {
    Outcome::Err {
        status,
        code,
        message: message.into(),
    }
}

fn ok(status: u16, headers: Vec<(&'static str, String)>, body: impl Into<Bytes>) -> Outcome {
    Outcome::Ok {
        status,
        headers,
        body: body.into(),
    }
}

fn xml(body: String) -> Outcome {
    ok(
        200,
        vec![("content-type", "application/xml".into())],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn md5_hex(b: &[u8]) -> String {
    crate::sig::encode::hex(&Md5::digest(b))
}

/// Bucket and key of a request: virtual-hosted when the Host names a bucket, else path-style.
fn locate(req: &Request) -> (Option<String>, Option<String>) {
    let path = text(&percent_decode(&req.path));
    if let Some(b) = req.host().and_then(crate::sig::v2::virtual_host_bucket) {
        let key = path.trim_start_matches('/');
        return (Some(b), (!key.is_empty()).then(|| key.to_string()));
    }
    let rest = path.strip_prefix('/').unwrap_or(&path);
    match rest.split_once('/') {
        None if rest.is_empty() => (None, None),
        None => (Some(rest.to_string()), None),
        Some((b, k)) => (Some(b.to_string()), (!k.is_empty()).then(|| k.to_string())),
    }
}

fn params(req: &Request) -> BTreeMap<String, String> {
    req.query
        .as_deref()
        .map(|q| {
            split_query(q)
                .iter()
                .map(|p| {
                    (
                        decoded_text(p.name).into_owned(),
                        text(&crate::sig::encode::form_decode(p.value)),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The object bytes of a body that may be aws-chunked.
fn payload(req: &Request, body: Bytes) -> Result<Bytes, String> {
    let chunked = req
        .header("x-amz-content-sha256")
        .is_some_and(|v| v.starts_with("STREAMING-"))
        || req
            .header("content-encoding")
            .is_some_and(|v| v.contains("aws-chunked"));
    if !chunked {
        return Ok(body);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut d = Decoder::new();
    d.feed(&body, &mut |e| {
        if let Event::Data(x) = e {
            out.extend_from_slice(x);
        }
    })
    .map_err(|e| e.to_string())?;
    d.finish().map_err(|e| e.to_string())?;
    Ok(Bytes::from(out))
}

fn range(spec: &str, len: usize) -> Option<(usize, usize)> {
    let s = spec.strip_prefix("bytes=")?;
    let (a, b) = s.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: usize = n.parse().ok()?;
            (len.saturating_sub(n), len.checked_sub(1)?)
        }
        (a, "") => (a.parse().ok()?, len.checked_sub(1)?),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<usize>().ok()?.min(len.checked_sub(1)?),
        ),
    };
    (start <= end && start < len).then_some((start, end))
}

impl Store {
    /// A store that holds at most `limit` bytes.
    pub fn new(limit: u64) -> Store {
        Store {
            inner: Mutex::new(Inner::default()),
            budget: Budget::new(limit),
        }
    }

    /// The memory budget (request bodies reserve from it while they are read).
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Answers one (already authenticated) request; `held` is what its body reserved.
    pub fn handle(
        &self,
        req: &Request,
        body: Bytes,
        now: i64,
        mut held: Reservation<'_>,
    ) -> Outcome {
        let budget = &self.budget;
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let inner = &mut *g;
        let q = params(req);
        let (bucket, key) = locate(req);
        let m = req.method.as_str();
        let Some(bucket) = bucket else {
            if m == "GET" {
                let mut s = String::from("<ListAllMyBucketsResult><Owner><ID>sigtap</ID><DisplayName>sigtap</DisplayName></Owner><Buckets>");
                for (name, b) in &inner.buckets {
                    s.push_str(&format!(
                        "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
                        esc(name),
                        rfc3339(b.created)
                    ));
                }
                s.push_str("</Buckets></ListAllMyBucketsResult>");
                return xml(s);
            }
            return err(
                405,
                ErrorCode::MethodNotAllowed,
                "The specified method is not allowed against this resource.",
            );
        };
        let Some(key) = key else {
            return match m {
                "PUT" => {
                    if inner.buckets.contains_key(&bucket) {
                        if q.is_empty() {
                            return err(409, ErrorCode::BucketAlreadyOwnedByYou, "Your previous request to create the named bucket succeeded and you already own it.");
                        }
                        return ok(200, vec![], Bytes::new());
                    }
                    inner.buckets.insert(
                        bucket.clone(),
                        Bucket {
                            created: now,
                            objects: BTreeMap::new(),
                        },
                    );
                    ok(200, vec![("location", format!("/{bucket}"))], Bytes::new())
                }
                "HEAD" => match inner.buckets.contains_key(&bucket) {
                    true => ok(
                        200,
                        vec![("x-amz-bucket-region", "us-east-1".into())],
                        Bytes::new(),
                    ),
                    false => err(
                        404,
                        ErrorCode::NoSuchBucket,
                        "The specified bucket does not exist",
                    ),
                },
                "DELETE" => match inner.buckets.get(&bucket) {
                    None => err(
                        404,
                        ErrorCode::NoSuchBucket,
                        "The specified bucket does not exist",
                    ),
                    Some(b) if !b.objects.is_empty() => err(
                        409,
                        ErrorCode::BucketNotEmpty,
                        "The bucket you tried to delete is not empty",
                    ),
                    Some(_) => {
                        inner.buckets.remove(&bucket);
                        ok(204, vec![], Bytes::new())
                    }
                },
                "GET" => {
                    let Some(b) = inner.buckets.get(&bucket) else {
                        return err(
                            404,
                            ErrorCode::NoSuchBucket,
                            "The specified bucket does not exist",
                        );
                    };
                    if q.contains_key("location") {
                        return xml("<LocationConstraint/>".into());
                    }
                    list(&bucket, b, &q)
                }
                "POST" if q.contains_key("delete") => {
                    let Some(b) = inner.buckets.get_mut(&bucket) else {
                        return err(
                            404,
                            ErrorCode::NoSuchBucket,
                            "The specified bucket does not exist",
                        );
                    };
                    let text = String::from_utf8_lossy(&body);
                    let mut out = String::from("<DeleteResult>");
                    let mut rest: &str = &text;
                    while let Some(i) = rest.find("<Key>") {
                        rest = &rest[i + 5..];
                        let end = rest.find("</Key>").unwrap_or(rest.len());
                        let k = crate::diagnose::upstream_unescape(&rest[..end]);
                        if let Some(o) = b.objects.remove(&k) {
                            budget.give_back(o.data.len() as u64);
                        }
                        out.push_str(&format!("<Deleted><Key>{}</Key></Deleted>", esc(&k)));
                        rest = &rest[end..];
                    }
                    out.push_str("</DeleteResult>");
                    xml(out)
                }
                _ => err(
                    405,
                    ErrorCode::MethodNotAllowed,
                    "The specified method is not allowed against this resource.",
                ),
            };
        };
        if !inner.buckets.contains_key(&bucket) {
            return err(
                404,
                ErrorCode::NoSuchBucket,
                "The specified bucket does not exist",
            );
        }
        match m {
            "PUT" if q.contains_key("uploadId") => {
                let Some(up) = inner.uploads.get_mut(&q["uploadId"]) else {
                    return err(
                        404,
                        ErrorCode::NoSuchUpload,
                        "The specified upload does not exist.",
                    );
                };
                let n: u32 = q
                    .get("partNumber")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                let data = match payload(req, body) {
                    Ok(d) => d,
                    Err(e) => return err(400, ErrorCode::InvalidRequest, e),
                };
                if !held.keep(data.len() as u64) {
                    return too_full(budget, data.len() as u64);
                }
                let etag = format!("\"{}\"", md5_hex(&data));
                if let Some(old) = up.2.insert(n, data) {
                    budget.give_back(old.len() as u64);
                }
                ok(200, vec![("etag", etag)], Bytes::new())
            }
            "PUT" => {
                let copy = req
                    .header("x-amz-copy-source")
                    .or(req.header("x-cos-copy-source"))
                    .map(str::to_string);
                let (data, ctype) = match copy {
                    Some(src) => {
                        let src = text(&percent_decode(src.split('?').next().unwrap_or("")));
                        let src = src.trim_start_matches('/');
                        // `bucket/key`, or COS `bucket-appid.cos.region.myqcloud.com/key`
                        let (sb, sk) = src.split_once('/').unwrap_or((src, ""));
                        let sb = sb.split(".cos.").next().unwrap_or(sb);
                        match inner.buckets.get(sb).and_then(|b| b.objects.get(sk)) {
                            Some(o) => (o.data.clone(), o.content_type.clone()),
                            None => {
                                return err(
                                    404,
                                    ErrorCode::NoSuchKey,
                                    "The specified key does not exist.",
                                )
                            }
                        }
                    }
                    None => match payload(req, body) {
                        Ok(d) => (
                            d,
                            req.header("content-type")
                                .unwrap_or("binary/octet-stream")
                                .to_string(),
                        ),
                        Err(e) => return err(400, ErrorCode::InvalidRequest, e),
                    },
                };
                // a copy shares the source's bytes, but is counted as held on its own
                if !held.keep(data.len() as u64) {
                    return too_full(budget, data.len() as u64);
                }
                let etag = format!("\"{}\"", md5_hex(&data));
                let is_copy =
                    req.has_header("x-amz-copy-source") || req.has_header("x-cos-copy-source");
                let replaced = inner
                    .buckets
                    .get_mut(&bucket)
                    .expect("checked above")
                    .objects
                    .insert(
                        key,
                        Object {
                            data,
                            etag: etag.clone(),
                            content_type: ctype,
                            modified: now,
                        },
                    );
                if let Some(o) = replaced {
                    budget.give_back(o.data.len() as u64);
                }
                if is_copy {
                    return xml(format!("<CopyObjectResult><LastModified>{}</LastModified><ETag>{}</ETag></CopyObjectResult>", rfc3339(now), esc(&etag)));
                }
                ok(200, vec![("etag", etag)], Bytes::new())
            }
            "GET" | "HEAD" => {
                let Some(o) = inner.buckets[&bucket].objects.get(&key) else {
                    return err(
                        404,
                        ErrorCode::NoSuchKey,
                        "The specified key does not exist.",
                    );
                };
                let mut headers = vec![
                    ("etag", o.etag.clone()),
                    ("content-type", o.content_type.clone()),
                    ("last-modified", http_date(o.modified)),
                    ("accept-ranges", "bytes".into()),
                ];
                let len = o.data.len();
                if let Some(spec) = req.header("range") {
                    return match range(spec, len) {
                        Some((a, b)) => {
                            headers.push(("content-range", format!("bytes {a}-{b}/{len}")));
                            let body = if m == "HEAD" {
                                Bytes::new()
                            } else {
                                o.data.slice(a..=b)
                            };
                            headers.push(("content-length", (b - a + 1).to_string()));
                            ok(206, headers, body)
                        }
                        None => err(
                            416,
                            ErrorCode::InvalidRange,
                            "The requested range is not satisfiable",
                        ),
                    };
                }
                headers.push(("content-length", len.to_string()));
                let body = if m == "HEAD" {
                    Bytes::new()
                } else {
                    o.data.clone()
                };
                ok(200, headers, body)
            }
            "DELETE" if q.contains_key("uploadId") => {
                if let Some((_, _, parts)) = inner.uploads.remove(&q["uploadId"]) {
                    budget.give_back(parts.values().map(|p| p.len() as u64).sum());
                }
                ok(204, vec![], Bytes::new())
            }
            "DELETE" => {
                if let Some(o) = inner
                    .buckets
                    .get_mut(&bucket)
                    .expect("checked above")
                    .objects
                    .remove(&key)
                {
                    budget.give_back(o.data.len() as u64);
                }
                ok(204, vec![], Bytes::new())
            }
            "POST" if q.contains_key("uploads") => {
                inner.next_upload += 1;
                let id = format!("sigtap-upload-{:016x}", inner.next_upload);
                inner
                    .uploads
                    .insert(id.clone(), (bucket.clone(), key.clone(), BTreeMap::new()));
                xml(format!(
                    "<InitiateMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
                    esc(&bucket),
                    esc(&key)
                ))
            }
            "POST" if q.contains_key("uploadId") => {
                let Some((_, _, parts)) = inner.uploads.remove(&q["uploadId"]) else {
                    return err(
                        404,
                        ErrorCode::NoSuchUpload,
                        "The specified upload does not exist.",
                    );
                };
                let mut data = Vec::new();
                let mut md5s = Vec::new();
                for p in parts.values() {
                    data.extend_from_slice(p);
                    md5s.extend_from_slice(&Md5::digest(p));
                }
                let etag = format!(
                    "\"{}-{}\"",
                    crate::sig::encode::hex(&Md5::digest(&md5s)),
                    parts.len()
                );
                // the parts' bytes become the object's: the budget does not change
                let replaced = inner
                    .buckets
                    .get_mut(&bucket)
                    .expect("checked above")
                    .objects
                    .insert(
                        key.clone(),
                        Object {
                            data: Bytes::from(data),
                            etag: etag.clone(),
                            content_type: "binary/octet-stream".into(),
                            modified: now,
                        },
                    );
                if let Some(o) = replaced {
                    budget.give_back(o.data.len() as u64);
                }
                xml(format!(
                    "<CompleteMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>",
                    esc(&bucket),
                    esc(&key),
                    esc(&etag)
                ))
            }
            _ => err(
                405,
                ErrorCode::MethodNotAllowed,
                "The specified method is not allowed against this resource.",
            ),
        }
    }
}

fn list(bucket: &str, b: &Bucket, q: &BTreeMap<String, String>) -> Outcome {
    let v2 = q.get("list-type").map(String::as_str) == Some("2");
    let prefix = q.get("prefix").cloned().unwrap_or_default();
    let delimiter = q.get("delimiter").cloned().filter(|d| !d.is_empty());
    let max: usize = q
        .get("max-keys")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000);
    let after = if v2 {
        q.get("continuation-token")
            .or(q.get("start-after"))
            .cloned()
    } else {
        q.get("marker").cloned()
    }
    .unwrap_or_default();
    let url = q.get("encoding-type").map(String::as_str) == Some("url");
    let enc = |s: &str| {
        if url {
            crate::sig::encode::uri_encode(s.as_bytes(), true)
        } else {
            esc(s)
        }
    };
    let mut contents = String::new();
    let mut prefixes = std::collections::BTreeSet::new();
    let mut count = 0;
    let mut truncated = false;
    let mut last = String::new();
    for (k, o) in b.objects.range::<String, _>((
        std::ops::Bound::Excluded(after.clone()),
        std::ops::Bound::Unbounded,
    )) {
        if !k.starts_with(&prefix) {
            continue;
        }
        if count >= max {
            truncated = true;
            break;
        }
        if let Some(d) = &delimiter {
            if let Some(i) = k[prefix.len()..].find(d.as_str()) {
                let p = k[..prefix.len() + i + d.len()].to_string();
                if prefixes.insert(p) {
                    count += 1;
                }
                last = k.clone();
                continue;
            }
        }
        contents.push_str(&format!(
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            enc(k),
            rfc3339(o.modified),
            esc(&o.etag),
            o.data.len()
        ));
        count += 1;
        last = k.clone();
    }
    let mut s = format!(
        "<ListBucketResult><Name>{}</Name><Prefix>{}</Prefix><MaxKeys>{max}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        esc(bucket),
        enc(&prefix)
    );
    if url {
        s.push_str("<EncodingType>url</EncodingType>");
    }
    if let Some(d) = &delimiter {
        s.push_str(&format!("<Delimiter>{}</Delimiter>", enc(d)));
    }
    if v2 {
        s.push_str(&format!("<KeyCount>{count}</KeyCount>"));
        if truncated {
            s.push_str(&format!(
                "<NextContinuationToken>{}</NextContinuationToken>",
                esc(&last)
            ));
        }
    } else if truncated {
        s.push_str(&format!("<NextMarker>{}</NextMarker>", enc(&last)));
    }
    s.push_str(&contents);
    for p in prefixes {
        s.push_str(&format!(
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            enc(&p)
        ));
    }
    s.push_str("</ListBucketResult>");
    xml(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(store: &Store, head: &str, body: &[u8]) -> u16 {
        let req = Request::parse(format!("{head}\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).unwrap();
        let mut held = store.budget().reserve();
        if !held.grow(body.len() as u64) {
            return 503;
        }
        match store.handle(&req, Bytes::copy_from_slice(body), 0, held) {
            Outcome::Ok { status, .. } | Outcome::Err { status, .. } => status,
        }
    }

    #[test]
    fn the_budget_follows_what_is_held() {
        let store = Store::new(100);
        assert_eq!(run(&store, "PUT /b HTTP/1.1", b""), 200);
        assert_eq!(run(&store, "PUT /b/k HTTP/1.1", &[1; 60]), 200);
        assert_eq!(store.budget().used(), 60);
        // an overwrite frees the old object; a GET holds nothing after it
        assert_eq!(run(&store, "PUT /b/k HTTP/1.1", &[2; 30]), 200);
        assert_eq!(run(&store, "GET /b/k HTTP/1.1", b""), 200);
        assert_eq!(store.budget().used(), 30);
        assert_eq!(run(&store, "PUT /b/j HTTP/1.1", &[3; 80]), 503);
        assert_eq!(
            store.budget().used(),
            30,
            "a refused body gives its bytes back"
        );
        // a copy is counted on its own
        assert_eq!(
            run(&store, "PUT /b/c HTTP/1.1\r\nx-amz-copy-source: /b/k", b""),
            200
        );
        assert_eq!(store.budget().used(), 60);
        assert_eq!(
            run(&store, "PUT /b/d HTTP/1.1\r\nx-amz-copy-source: /b/k", b""),
            200
        );
        assert_eq!(
            run(&store, "PUT /b/e HTTP/1.1\r\nx-amz-copy-source: /b/k", b""),
            503
        );
        assert_eq!(store.budget().used(), 90);
        for k in ["k", "c", "d"] {
            assert_eq!(run(&store, &format!("DELETE /b/{k} HTTP/1.1"), b""), 204);
        }
        assert_eq!(store.budget().used(), 0);
        // parts are held until the upload is aborted
        assert_eq!(run(&store, "POST /b/m?uploads HTTP/1.1", b""), 200);
        let id = "sigtap-upload-0000000000000001";
        let part = format!("PUT /b/m?partNumber=1&uploadId={id} HTTP/1.1");
        assert_eq!(run(&store, &part, &[4; 40]), 200);
        assert_eq!(run(&store, &part, &[5; 50]), 200);
        assert_eq!(
            store.budget().used(),
            50,
            "a part sent again replaces the first"
        );
        assert_eq!(
            run(&store, &format!("DELETE /b/m?uploadId={id} HTTP/1.1"), b""),
            204
        );
        assert_eq!(store.budget().used(), 0);
    }

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(range("bytes=200-300", 100), None);
        assert_eq!(range("bytes=5-1000", 100), Some((5, 99)));
    }

    #[test]
    fn path_and_virtual_host_buckets() {
        let r = Request::parse(b"GET /b/k%20x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        assert_eq!(locate(&r), (Some("b".into()), Some("k x".into())));
        let r =
            Request::parse(b"GET /k HTTP/1.1\r\nHost: b-125.cos.ap-guangzhou.myqcloud.com\r\n\r\n")
                .unwrap();
        assert_eq!(locate(&r), (Some("b-125".into()), Some("k".into())));
    }
}
