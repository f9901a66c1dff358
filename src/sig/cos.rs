//! Tencent COS XML-API signature (`q-sign-algorithm=sha1`): parsing the three carriers,
//! building the HttpString, signing and verifying. Rules: `spec/COS-SIGNATURE.md`.

use super::crypto::{ct_eq, hmac_sha1, sha1};
use super::encode::{
    form_decode, form_decoded_text, hex, percent_decode, split_query, text, uri_encode,
};
use super::plan::SigningPlan;
use crate::clock::UnixTime;
use crate::sig::encode::clip;
use crate::wire::Request;

/// The seven fields, in the order every SDK emits them.
pub const Q_FIELDS: [&str; 7] = [
    "q-sign-algorithm",
    "q-ak",
    "q-sign-time",
    "q-key-time",
    "q-header-list",
    "q-url-param-list",
    "q-signature",
];

/// The session-token header (and query parameter) of COS temporary keys.
pub const TOKEN_HEADER: &str = "x-cos-security-token";

/// Where a COS signature travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CosCarrier {
    Header,
    /// `q-*` query parameters.
    Query,
    /// One `sign=` query parameter holding the whole Authorization string.
    SignParam,
}

/// A parsed COS signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosAuth {
    pub carrier: CosCarrier,
    pub access_key: String,
    /// `q-sign-time` as sent (`start;end`).
    pub sign_time: String,
    /// `q-key-time` as sent.
    pub key_time: String,
    /// The window parsed from `q-sign-time`.
    pub start: UnixTime,
    pub end: UnixTime,
    /// The window parsed from `q-key-time`.
    pub key_start: UnixTime,
    pub key_end: UnixTime,
    pub header_list: Vec<String>,
    pub param_list: Vec<String>,
    pub signature: String,
}

impl CosAuth {
    /// The window the signature is honoured in: where `q-sign-time` and `q-key-time` are both
    /// open. With q-key-time in the StringToSign nothing signs q-sign-time, so only q-key-time
    /// may bound the time; with q-sign-time there both are signed (one through the SignKey) and a
    /// strict service checks both. Equal fields, as every SDK sends, give that window unchanged.
    pub fn window(&self) -> (UnixTime, UnixTime) {
        (self.start.max(self.key_start), self.end.min(self.key_end))
    }
}

/// True when an `Authorization` value looks like a COS signature.
pub fn looks_like_cos(value: &str) -> bool {
    let v = value.trim_start();
    v.starts_with("q-sign-algorithm=") || v.starts_with("q-ak=") || v.contains("&q-signature=")
}

/// Which COS carrier, if any, the request uses (without validating it).
pub fn detect(req: &Request) -> Option<CosCarrier> {
    if let Some(a) = req.header("authorization") {
        return looks_like_cos(a).then_some(CosCarrier::Header);
    }
    let q = req.query.as_deref()?;
    let names: Vec<String> = split_query(q)
        .iter()
        .map(|p| text(&form_decode(p.name)))
        .collect();
    if names
        .iter()
        .any(|n| n == "q-signature" || n == "q-sign-algorithm")
    {
        Some(CosCarrier::Query)
    } else if names.iter().any(|n| n == "sign") {
        Some(CosCarrier::SignParam)
    } else {
        None
    }
}

fn parse_fields(value: &str) -> Vec<(String, String)> {
    value
        .split('&')
        .filter(|p| !p.trim().is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => (p.trim().to_string(), String::new()),
        })
        .collect()
}

fn parse_window(s: &str) -> Option<(UnixTime, UnixTime)> {
    let (a, b) = s.split_once(';')?;
    let a: UnixTime = a.trim().parse().ok()?;
    let b: UnixTime = b.trim().parse().ok()?;
    Some((a, b))
}

fn split_list(s: &str) -> Vec<String> {
    s.split(';')
        .filter(|x| !x.is_empty())
        .map(|x| x.trim().to_ascii_lowercase())
        .collect()
}

/// Reads the COS signature from the request. `Ok(None)` when there is none;
/// `Err` with a reason when one is present but malformed.
pub fn extract(req: &Request) -> Result<Option<CosAuth>, String> {
    let Some(carrier) = detect(req) else {
        return Ok(None);
    };
    let fields: Vec<(String, String)> = match carrier {
        CosCarrier::Header => parse_fields(req.header("authorization").unwrap_or("")),
        CosCarrier::Query => split_query(req.query.as_deref().unwrap_or(""))
            .iter()
            .map(|p| (text(&form_decode(p.name)), text(&form_decode(p.value))))
            .filter(|(k, _)| k.starts_with("q-"))
            .collect(),
        CosCarrier::SignParam => {
            let sign = split_query(req.query.as_deref().unwrap_or(""))
                .iter()
                .find(|p| form_decoded_text(p.name) == "sign")
                .map(|p| text(&form_decode(p.value)))
                .unwrap_or_default();
            parse_fields(&sign)
        }
    };
    let get = |name: &str| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let missing: Vec<&str> = Q_FIELDS
        .iter()
        .copied()
        .filter(|f| get(f).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the COS signature lacks {} (it needs all of {})",
            missing.join(", "),
            Q_FIELDS.join(", ")
        ));
    }
    let algorithm = get("q-sign-algorithm").unwrap_or_default();
    if algorithm != "sha1" {
        return Err(format!(
            "q-sign-algorithm is {:?}; COS supports only \"sha1\"",
            clip(algorithm)
        ));
    }
    let sign_time = get("q-sign-time").unwrap_or_default().to_string();
    let key_time = get("q-key-time").unwrap_or_default().to_string();
    let (start, end) = parse_window(&sign_time).ok_or_else(|| {
        format!(
            "q-sign-time {:?} is not `start;end` in unix seconds",
            clip(&sign_time)
        )
    })?;
    let (key_start, key_end) = parse_window(&key_time).ok_or_else(|| {
        format!(
            "q-key-time {:?} is not `start;end` in unix seconds",
            clip(&key_time)
        )
    })?;
    let signature = get("q-signature").unwrap_or_default().to_string();
    if signature.len() != 40 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "q-signature {:?} is not 40 hex characters",
            clip(&signature)
        ));
    }
    let access_key = get("q-ak").unwrap_or_default().to_string();
    if access_key.is_empty() {
        return Err("q-ak (the SecretId) is empty".into());
    }
    Ok(Some(CosAuth {
        carrier,
        access_key,
        sign_time,
        key_time,
        start,
        end,
        key_start,
        key_end,
        header_list: split_list(get("q-header-list").unwrap_or_default()),
        param_list: split_list(get("q-url-param-list").unwrap_or_default()),
        signature,
    }))
}

/// How repeated query names are read (the service's rule is undocumented; SDKs differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamReading {
    /// Every value, sorted by (name, encoded value).
    AllValues,
    /// Every value, values of one name sorted by their raw bytes (Go SDK).
    RawValueOrder,
    /// One value per name, the last one (Python SDK dict).
    LastValue,
    /// One value per name, the first one.
    FirstValue,
}

/// COS UrlEncode: unreserved `A-Za-z0-9-_.~`, everything else `%XX` upper-case.
pub fn cos_encode(data: &[u8]) -> String {
    uri_encode(data, false)
}

/// The HttpString and what was missing while building it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpString {
    pub text: String,
    /// Listed headers the request does not carry (signed as `name=`).
    pub missing_headers: Vec<String>,
    /// Listed parameters the request does not carry.
    pub missing_params: Vec<String>,
}

/// The path as COS signs it: `+` read as space, percent-decoded, never normalized.
pub fn uri_pathname(raw_path: &str) -> String {
    if !raw_path.contains(['+', '%']) {
        return raw_path.to_string();
    }
    text(&percent_decode(&raw_path.replace('+', " ")))
}

/// Builds the HttpString for the given header and parameter lists.
pub fn http_string(
    req: &Request,
    header_list: &[String],
    param_list: &[String],
    reading: ParamReading,
) -> HttpString {
    let mut params: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(q) = &req.query {
        for p in split_query(q) {
            let name = cos_encode(&form_decode(p.name)).to_ascii_lowercase();
            if param_list.contains(&name) {
                params.push((name, form_decode(p.value)));
            }
        }
    }
    match reading {
        ParamReading::AllValues => {}
        ParamReading::RawValueOrder => params.sort(),
        ParamReading::LastValue | ParamReading::FirstValue => {
            if reading == ParamReading::LastValue {
                params.reverse();
            }
            let mut seen = std::collections::BTreeSet::new();
            params.retain(|(n, _)| seen.insert(n.clone()));
        }
    }
    let mut encoded: Vec<(String, String)> = params
        .into_iter()
        .map(|(n, v)| (n, cos_encode(&v)))
        .collect();
    if reading == ParamReading::RawValueOrder {
        encoded.sort_by(|a, b| a.0.cmp(&b.0)); // stable: keeps the raw value order within a name
    } else {
        encoded.sort();
    }
    let mut missing_params = Vec::new();
    let mut listed: Vec<&String> = param_list.iter().collect();
    listed.sort();
    listed.dedup();
    for l in listed {
        if !encoded.iter().any(|(n, _)| n == l) {
            missing_params.push(l.clone());
        }
    }

    let mut names: Vec<&String> = header_list.iter().collect();
    names.sort();
    names.dedup();
    let mut hpairs: Vec<(String, String)> = Vec::new();
    let mut missing_headers = Vec::new();
    // header names as COS lists them: encoded, lower-cased (computed once per request)
    let wire_names: Vec<String> = req
        .headers
        .iter()
        .map(|(k, _)| cos_encode(k.trim().as_bytes()).to_ascii_lowercase())
        .collect();
    for n in names {
        let mut values: Vec<String> = req
            .headers
            .iter()
            .zip(&wire_names)
            .filter(|(_, wn)| *wn == n)
            .map(|((_, v), _)| cos_encode(v.trim_matches([' ', '\t']).as_bytes()))
            .collect();
        if values.is_empty() {
            match (n.as_str(), req.authority.as_deref()) {
                ("host", Some(a)) => values.push(cos_encode(a.as_bytes())),
                _ => {
                    missing_headers.push(n.clone());
                    values.push(String::new());
                }
            }
        }
        values.sort();
        hpairs.extend(values.into_iter().map(|v| (n.clone(), v)));
    }
    let path = uri_pathname(&req.path);
    let mut text = String::with_capacity(64 + path.len() + 48 * (encoded.len() + hpairs.len()));
    text.push_str(&req.method.to_ascii_lowercase());
    text.push('\n');
    text.push_str(&path);
    text.push('\n');
    for pairs in [&encoded, &hpairs] {
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                text.push('&');
            }
            text.push_str(k);
            text.push('=');
            text.push_str(v);
        }
        text.push('\n');
    }
    HttpString {
        text,
        missing_headers,
        missing_params,
    }
}

/// `sha1\n<q-sign-time>\n<sha1 hex of HttpString>\n`.
pub fn string_to_sign(sign_time: &str, http_string: &str) -> String {
    format!(
        "sha1\n{sign_time}\n{}\n",
        hex(&sha1(http_string.as_bytes()))
    )
}

/// SignKey = hex(HMAC-SHA1(secret, q-key-time)).
pub fn sign_key(secret: &str, key_time: &str) -> String {
    hex(&hmac_sha1(secret.as_bytes(), key_time.as_bytes()))
}

/// Signature = hex(HMAC-SHA1(SignKey as hex text, StringToSign)).
pub fn signature(sign_key: &str, string_to_sign: &str) -> String {
    hex(&hmac_sha1(sign_key.as_bytes(), string_to_sign.as_bytes()))
}

/// Which time field a StringToSign carries (the SignKey always uses `q-key-time`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignedTime {
    /// `q-sign-time`: the signature tool, the Node SDK; both fields are signed.
    SignTime,
    /// `q-key-time`: the doc formula, the Go SDK; `q-sign-time` is signed by nothing.
    KeyTime,
}

/// The result of checking a COS signature with a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosCheck {
    pub http_string: HttpString,
    pub string_to_sign: String,
    pub expected: String,
    pub matched: bool,
    /// The reading of repeated parameter names this check used.
    pub reading: ParamReading,
    /// The time field this check put in the StringToSign.
    pub signed_time: SignedTime,
    /// When the match needed a non-default reading, which one (e.g. repeated names).
    pub reading_note: Option<String>,
}

/// A listed parameter that arrives with several different values of which a reading signs one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftOut {
    /// The name as it arrived first (decoded; COS compares names encoded and lower-cased).
    pub name: String,
    /// The decoded value the reading signs.
    pub signed: String,
    /// The decoded values it leaves out (each differs from `signed`).
    pub left_out: Vec<String>,
}

/// What a one-value-per-name reading leaves unsigned: for every listed name whose values
/// differ, the value kept and the others. Empty for the readings that sign every value.
pub fn values_left_out(
    req: &Request,
    param_list: &[String],
    reading: ParamReading,
) -> Vec<LeftOut> {
    if !matches!(reading, ParamReading::LastValue | ParamReading::FirstValue) {
        return Vec::new();
    }
    // (listed name, name as sent, values)
    let mut by_name: Vec<(String, String, Vec<String>)> = Vec::new();
    for p in split_query(req.query.as_deref().unwrap_or("")) {
        let sent = form_decode(p.name);
        let listed = cos_encode(&sent).to_ascii_lowercase();
        if !param_list.contains(&listed) {
            continue;
        }
        let value = text(&form_decode(p.value));
        match by_name.iter_mut().find(|(n, _, _)| *n == listed) {
            Some((_, _, values)) => values.push(value),
            None => by_name.push((listed, text(&sent), vec![value])),
        }
    }
    by_name
        .into_iter()
        .filter_map(|(_, name, values)| {
            let signed = if reading == ParamReading::LastValue {
                values.last()
            } else {
                values.first()
            }?
            .clone();
            let left_out: Vec<String> = values.into_iter().filter(|v| *v != signed).collect();
            (!left_out.is_empty()).then_some(LeftOut {
                name,
                signed,
                left_out,
            })
        })
        .collect()
}

/// Whether the query has a listed name more than once (then SDK readings differ).
fn has_repeated_listed_param(req: &Request, list: &[String]) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    req.query.as_deref().is_some_and(|q| {
        split_query(q).iter().any(|p| {
            let n = cos_encode(&form_decode(p.name)).to_ascii_lowercase();
            list.contains(&n) && !seen.insert(n)
        })
    })
}

/// The canonical stages without a secret (for reports of unverified requests).
pub fn stages(req: &Request, auth: &CosAuth) -> (HttpString, String) {
    let hs = http_string(
        req,
        &auth.header_list,
        &auth.param_list,
        ParamReading::AllValues,
    );
    let sts = string_to_sign(&auth.sign_time, &hs.text);
    (hs, sts)
}

/// Verifies a COS signature, trying the readings the spec leaves open.
pub fn verify(req: &Request, auth: &CosAuth, secret: &str) -> CosCheck {
    let key = sign_key(secret, &auth.key_time);
    let mut readings = vec![(ParamReading::AllValues, None)];
    if has_repeated_listed_param(req, &auth.param_list) {
        readings.push((
            ParamReading::RawValueOrder,
            Some("repeated parameter values ordered by raw value (Go SDK reading)"),
        ));
        readings.push((
            ParamReading::LastValue,
            Some("one value per repeated parameter name, the last (Python SDK reading)"),
        ));
        readings.push((
            ParamReading::FirstValue,
            Some("one value per repeated parameter name, the first"),
        ));
    }
    let mut first: Option<CosCheck> = None;
    for (reading, note) in readings {
        let hs = http_string(req, &auth.header_list, &auth.param_list, reading);
        let mut times = vec![(SignedTime::SignTime, auth.sign_time.as_str(), None)];
        if auth.sign_time != auth.key_time {
            times.push((
                SignedTime::KeyTime,
                auth.key_time.as_str(),
                Some("q-key-time used in the StringToSign (q-sign-time differs from it)"),
            ));
        }
        for (signed_time, t, tnote) in times {
            let sts = string_to_sign(t, &hs.text);
            let expected = signature(&key, &sts);
            let matched = ct_eq(&expected, &auth.signature.to_ascii_lowercase());
            let check = CosCheck {
                http_string: hs.clone(),
                string_to_sign: sts,
                expected,
                matched,
                reading,
                signed_time,
                reading_note: note.or(tnote).map(str::to_string),
            };
            if matched {
                return check;
            }
            if first.is_none() {
                first = Some(check);
            }
        }
    }
    first.expect("at least one reading is always tried")
}

/// The headers cos-python-sdk-v5 signs when present (its `filter_headers` allow-list),
/// plus every `x-cos-*` and `x-ci-*` header.
pub const SDK_SIGNED_HEADERS: [&str; 16] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-length",
    "content-md5",
    "content-type",
    "expect",
    "expires",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-unmodified-since",
    "origin",
    "range",
    "transfer-encoding",
];

/// What the official Python SDK would sign of this request's headers.
pub fn default_header_list(req: &Request) -> Vec<String> {
    let mut out: Vec<String> = req
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .filter(|k| {
            SDK_SIGNED_HEADERS.contains(&k.as_str())
                || k.starts_with("x-cos-")
                || k.starts_with("x-ci-")
                || k == "pic-operations"
        })
        .collect();
    if !out.iter().any(|k| k == "host") && req.host().is_some() {
        out.push("host".into());
    }
    out.sort();
    out.dedup();
    out
}

/// Inputs of a COS signing operation.
#[derive(Clone, Debug)]
pub struct CosSignParams<'a> {
    pub access_key: &'a str,
    pub secret: &'a str,
    pub session_token: Option<&'a str>,
    pub start: UnixTime,
    pub end: UnixTime,
    /// Header names to sign; `None` means what the Python SDK signs.
    pub header_list: Option<Vec<String>>,
    /// Put the signature in `q-*` query parameters instead of `Authorization`.
    pub presign: bool,
}

/// The signing plan plus the stages that produced it.
#[derive(Clone, Debug)]
pub struct CosSigned {
    pub plan: SigningPlan,
    pub http_string: String,
    pub string_to_sign: String,
    pub signature: String,
    pub authorization: String,
}

/// Signs a request with COS rules; the request itself is not changed (apply the plan).
pub fn sign(req: &Request, p: &CosSignParams<'_>) -> CosSigned {
    let mut plan = SigningPlan::default();
    let stale: Vec<String> = Q_FIELDS
        .iter()
        .map(|s| s.to_string())
        .chain(["sign".to_string()])
        .collect();
    plan.remove_params = stale.clone();
    // Drop old signature parameters before computing the parameter list.
    let cleaned = SigningPlan {
        remove_params: stale,
        ..SigningPlan::default()
    };
    let mut work = cleaned.apply(req);
    work.remove_header("authorization");
    plan.remove_headers.push("Authorization".into());
    if p.presign {
        if let Some(tok) = p.session_token {
            let piece = format!("{TOKEN_HEADER}={}", cos_encode(tok.as_bytes()));
            plan.append_query.push(piece.clone());
            let q = match work.query.take() {
                Some(q) if !q.is_empty() => format!("{q}&{piece}"),
                _ => piece,
            };
            work.query = Some(q);
        }
    } else if let Some(tok) = p.session_token {
        plan.set_headers
            .push((TOKEN_HEADER.into(), tok.to_string()));
        work.set_header(TOKEN_HEADER, tok);
    }
    let header_list = match &p.header_list {
        Some(l) => {
            let mut l: Vec<String> = l.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
            l.retain(|h| !h.is_empty());
            l.sort();
            l.dedup();
            l
        }
        None => default_header_list(&work),
    };
    let mut param_list: Vec<String> = work
        .query
        .as_deref()
        .map(|q| {
            split_query(q)
                .iter()
                .map(|x| cos_encode(&form_decode(x.name)).to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    param_list.sort();
    param_list.dedup();
    let window = format!("{};{}", p.start, p.end);
    let hs = http_string(&work, &header_list, &param_list, ParamReading::AllValues);
    let sts = string_to_sign(&window, &hs.text);
    let sig = signature(&sign_key(p.secret, &window), &sts);
    let fields = [
        ("q-sign-algorithm", "sha1".to_string()),
        ("q-ak", p.access_key.to_string()),
        ("q-sign-time", window.clone()),
        ("q-key-time", window),
        ("q-header-list", header_list.join(";")),
        ("q-url-param-list", param_list.join(";")),
        ("q-signature", sig.clone()),
    ];
    let authorization = fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    if p.presign {
        // Python SDK style: every value url-encoded (`;` -> %3B), signature params first is not
        // required by the service, so they are appended after the request's own parameters.
        for (k, v) in &fields {
            plan.append_query
                .push(format!("{k}={}", cos_encode(v.as_bytes())));
        }
    } else {
        plan.set_headers
            .push(("Authorization".into(), authorization.clone()));
    }
    CosSigned {
        plan,
        http_string: hs.text,
        string_to_sign: sts,
        signature: sig,
        authorization,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC_AK: &str = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q";
    const DOC_SK: &str = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz";

    fn doc_upload() -> Request {
        Request::parse(
            "PUT /exampleobject(%E8%85%BE%E8%AE%AF%E4%BA%91) HTTP/1.1\r\n\
             Date: Thu, 16 May 2019 06:45:51 GMT\r\n\
             Host: examplebucket-1250000000.cos.ap-beijing.myqcloud.com\r\n\
             Content-Type: text/plain\r\nContent-Length: 13\r\n\
             Content-MD5: mQ/fVh815F3k6TAUm8m0eg==\r\nx-cos-acl: private\r\n\
             x-cos-grant-read: uin=\"100000000011\"\r\n\r\nObjectContent"
                .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn tencent_documented_upload_example_stage_by_stage() {
        let req = doc_upload();
        let list: Vec<String> =
            "content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read"
                .split(';')
                .map(String::from)
                .collect();
        let hs = http_string(&req, &list, &[], ParamReading::AllValues);
        assert_eq!(hs.text, "put\n/exampleobject(腾讯云)\n\ncontent-length=13&content-md5=mQ%2FfVh815F3k6TAUm8m0eg%3D%3D&content-type=text%2Fplain&date=Thu%2C%2016%20May%202019%2006%3A45%3A51%20GMT&host=examplebucket-1250000000.cos.ap-beijing.myqcloud.com&x-cos-acl=private&x-cos-grant-read=uin%3D%22100000000011%22\n", "HttpString");
        let key = sign_key(DOC_SK, "1557989151;1557996351");
        assert_eq!(key, "eb2519b498b02ac213cb1f3d1a3d27a3b3c9bc5f", "SignKey");
        let sts = string_to_sign("1557989151;1557996351", &hs.text);
        assert_eq!(
            sts, "sha1\n1557989151;1557996351\n8b2751e77f43a0995d6e9eb9477f4b685cca4172\n",
            "StringToSign"
        );
        assert_eq!(
            signature(&key, &sts),
            "3b8851a11a569213c17ba8fa7dcf2abec6935172",
            "Signature"
        );
    }

    #[test]
    fn sign_then_verify_round_trip_with_token_and_presign() {
        let req = doc_upload();
        for presign in [false, true] {
            let p = CosSignParams {
                access_key: DOC_AK,
                secret: DOC_SK,
                session_token: Some("tok en+/="),
                start: 100,
                end: 200,
                header_list: None,
                presign,
            };
            let signed = sign(&req, &p);
            let out = signed.plan.apply(&req);
            let auth = extract(&out).unwrap().unwrap();
            assert_eq!(auth.start, 100);
            let check = verify(&out, &auth, DOC_SK);
            assert!(
                check.matched,
                "presign={presign}: {}",
                check.http_string.text
            );
            assert!(!verify(&out, &auth, "other").matched);
        }
    }

    #[test]
    fn malformed_values_are_errors_not_panics() {
        for v in [
            "q-sign-algorithm=sha1",
            "q-sign-algorithm=md5&q-ak=a&q-sign-time=1;2&q-key-time=1;2&q-header-list=&q-url-param-list=&q-signature=0000000000000000000000000000000000000000",
            "q-sign-algorithm=sha1&q-ak=a&q-sign-time=x&q-key-time=1;2&q-header-list=&q-url-param-list=&q-signature=0000000000000000000000000000000000000000",
        ] {
            let req = Request::parse(format!("GET / HTTP/1.1\r\nAuthorization: {v}\r\n\r\n").as_bytes()).unwrap();
            assert!(extract(&req).is_err(), "{v}");
        }
    }

    #[test]
    fn single_sign_parameter_carrier() {
        // Go `SignMerged` / Java prefix mode: the whole Authorization value in one `sign=` param.
        let req = doc_upload();
        let signed = sign(
            &req,
            &CosSignParams {
                access_key: DOC_AK,
                secret: DOC_SK,
                session_token: None,
                start: 100,
                end: 200,
                header_list: Some(vec!["host".into()]),
                presign: false,
            },
        );
        let mut out = req.clone();
        out.query = Some(format!(
            "sign={}",
            cos_encode(signed.authorization.as_bytes())
        ));
        let auth = extract(&out).unwrap().unwrap();
        assert_eq!(auth.carrier, CosCarrier::SignParam);
        assert!(verify(&out, &auth, DOC_SK).matched);
        // an unlisted token parameter appended after signing (Java/Node style) is fine
        out.query = Some(format!("{}&x-cos-security-token=abc", out.query.unwrap()));
        assert!(verify(&out, &extract(&out).unwrap().unwrap(), DOC_SK).matched);
    }

    #[test]
    fn a_moved_q_sign_time_verifies_only_through_q_key_time_and_the_window_stays_signed() {
        let req = doc_upload();
        let p = CosSignParams {
            access_key: DOC_AK,
            secret: DOC_SK,
            session_token: None,
            start: 100,
            end: 200,
            header_list: Some(vec!["host".into()]),
            presign: false,
        };
        let out = sign(&req, &p).plan.apply(&req);
        let auth = extract(&out).unwrap().unwrap();
        assert_eq!(auth.window(), (100, 200));
        assert_eq!(
            verify(&out, &auth, DOC_SK).signed_time,
            SignedTime::SignTime
        );
        let mut moved = auth.clone();
        moved.sign_time = "100;9000".into();
        moved.end = 9000;
        let check = verify(&out, &moved, DOC_SK);
        assert!(check.matched);
        assert_eq!(check.signed_time, SignedTime::KeyTime);
        assert_eq!(moved.window(), (100, 200), "q-key-time bounds the window");
    }

    #[test]
    fn plus_in_path_is_a_space() {
        assert_eq!(uri_pathname("/a+b%2Bc%2F"), "/a b+c/");
    }
}
