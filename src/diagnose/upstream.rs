//! Upstream error documents (COS and S3 XML) as typed values, the upstream's clock, and the
//! correlation of both with sigtap's own diagnosis.

use crate::findings::{code, Code, Finding};
use crate::inspect::Report;
use crate::service_error::ErrorCode;
use crate::timefmt::{human_duration, parse_amz_date, parse_http_date, parse_user_time, rfc3339};
use crate::wire::Response;
use base64::Engine;

/// The fields of a COS or S3 `<Error>` document that matter for signatures and time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpstreamError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub trace_id: Option<String>,
    pub host_id: Option<String>,
    pub resource: Option<String>,
    pub string_to_sign: Option<String>,
    pub canonical_request: Option<String>,
    /// COS: the HttpString the service computed.
    pub format_string: Option<String>,
    pub server_time: Option<i64>,
    pub request_time: Option<String>,
    pub max_allowed_skew_ms: Option<i64>,
    pub region: Option<String>,
    pub expires: Option<String>,
}

/// Unescapes the five XML entities and numeric character references.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if ent.starts_with("#x") => u32::from_str_radix(&ent[2..], 16)
                .ok()
                .and_then(char::from_u32),
            _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of the first `<name>...</name>` element (error documents are flat).
fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(unescape(&xml[start..end]))
}

/// Parses an error body; `None` when it is not an `<Error>` document.
pub fn parse_error(status: u16, body: &[u8]) -> Option<UpstreamError> {
    let xml = String::from_utf8_lossy(body);
    if !xml.contains("<Error>") {
        return None;
    }
    Some(UpstreamError {
        status,
        code: element(&xml, "Code").unwrap_or_default(),
        message: element(&xml, "Message").unwrap_or_default(),
        request_id: element(&xml, "RequestId"),
        trace_id: element(&xml, "TraceId"),
        host_id: element(&xml, "HostId"),
        resource: element(&xml, "Resource"),
        string_to_sign: element(&xml, "StringToSign"),
        canonical_request: element(&xml, "CanonicalRequest"),
        format_string: element(&xml, "FormatString"),
        server_time: element(&xml, "ServerTime").and_then(|t| parse_user_time(&t)),
        request_time: element(&xml, "RequestTime"),
        max_allowed_skew_ms: element(&xml, "MaxAllowedSkewMilliseconds")
            .and_then(|v| v.parse().ok()),
        region: element(&xml, "Region"),
        expires: element(&xml, "Expires"),
    })
}

/// The server's clock at receipt, from the COS request id (`base64("<hex secs>_...")`).
/// Undocumented: a heuristic observed on published ids (spec/COS-ERRORS.md section 4).
pub fn cos_request_id_time(id: &str) -> Option<i64> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(id.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let first = text.split('_').next()?;
    if first.len() != 8 {
        return None;
    }
    i64::from_str_radix(first, 16).ok()
}

/// The upstream's clock and where it was read: `Date`, `<ServerTime>`, or the COS request id.
pub fn server_time(resp: &Response, err: Option<&UpstreamError>) -> Option<(i64, &'static str)> {
    if let Some(t) = resp.header("date").and_then(parse_http_date) {
        return Some((t, "the response's Date header"));
    }
    if let Some(t) = err.and_then(|e| e.server_time) {
        return Some((t, "<ServerTime> in the error document"));
    }
    resp.header("x-cos-request-id")
        .and_then(cos_request_id_time)
        .map(|t| {
            (
                t,
                "the x-cos-request-id (a heuristic: its first field is the server clock)",
            )
        })
}

/// Findings that tie an upstream answer to the local diagnosis.
pub fn correlate(resp: &Response, report: &Report) -> Vec<Finding> {
    let err = parse_error(resp.status, &resp.body);
    let clock = server_time(resp, err.as_ref());
    let mut out = Vec::new();
    if let Some((t, basis)) = clock {
        let offset = t - report.now;
        let mut f = Finding::info(
            code::UPSTREAM_CLOCK,
            format!(
                "the upstream's clock read {} ({basis}); {}",
                rfc3339(t),
                if offset.abs() <= 2 {
                    "it agrees with now".to_string()
                } else if offset > 0 {
                    format!("{} ahead of now", human_duration(offset))
                } else {
                    format!("{} behind now", human_duration(-offset))
                }
            ),
        )
        .with("upstream_time", rfc3339(t))
        .with("offset_seconds", offset);
        if let Some(w) = report.window {
            if t > w.end {
                f.message.push_str(&format!(
                    "; the signature window had closed {} before the upstream's clock",
                    human_duration(t - w.end)
                ));
            }
        }
        out.push(f);
    }
    let Some(e) = err else {
        return out;
    };
    let mut msg = format!("upstream answered {} {}: {}", e.status, e.code, e.message);
    let local_codes: Vec<Code> = report.findings.iter().map(|f| f.code).collect();
    match ErrorCode::parse(&e.code) {
        Some(ErrorCode::SignatureDoesNotMatch) => {
            let theirs = e.string_to_sign.as_deref();
            let ours = report.stages.string_to_sign.as_deref();
            match (theirs, ours) {
                (Some(a), Some(b)) if a.trim_end() == b.trim_end() => msg.push_str(
                    "; its StringToSign equals sigtap's, so both canonicalized the request alike: the signature itself differs (secret, or the client's HMAC)",
                ),
                (Some(a), Some(b)) => msg.push_str(&format!(
                    "; its StringToSign differs from sigtap's:\n{}",
                    crate::diagnose::mismatch::line_diff(b, a).join("\n")
                )),
                _ => {}
            }
            if !local_codes.contains(&code::SIGNATURE_MISMATCH)
                && report.stages.expected_signature.is_some()
            {
                msg.push_str("; sigtap found the signature valid with the key it holds: the upstream may hold another secret for this key, or canonicalize differently");
            }
        }
        Some(
            ErrorCode::RequestTimeTooSkewed | ErrorCode::AccessDenied | ErrorCode::ExpiredToken,
        ) => {
            if let Some(f) = report.findings.iter().find(|f| {
                matches!(
                    f.code,
                    code::EXPIRED | code::NOT_YET_VALID | code::CLOCK_SKEW
                )
            }) {
                msg.push_str(&format!(
                    "; sigtap's diagnosis: {} ({})",
                    f.code,
                    f.cause.unwrap_or("unknown")
                ));
            }
            if let (Some(rt), Some(st)) = (&e.request_time, e.server_time) {
                if let Some(t) = parse_amz_date(rt).or_else(|| parse_http_date(rt)) {
                    msg.push_str(&format!(
                        "; upstream measured the request time {} from its clock",
                        human_duration(st - t)
                    ));
                }
            }
        }
        _ => {}
    }
    let mut f = Finding::info(code::UPSTREAM_ERROR, msg).with("code", e.code.clone());
    if let Some(id) = &e.request_id {
        f = f.with("request_id", id.clone());
    }
    out.push(f);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_skew_document() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message><RequestTime>20190726T221748Z</RequestTime><ServerTime>2019-07-26T22:33:27Z</ServerTime><MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds><RequestId>601AA1A7F7E37AE9</RequestId><HostId>KYM=</HostId></Error>"#;
        let e = parse_error(403, body).unwrap();
        assert_eq!(e.code, "RequestTimeTooSkewed");
        assert_eq!(e.max_allowed_skew_ms, Some(900_000));
        assert_eq!(e.server_time, parse_user_time("2019-07-26T22:33:27Z"));
        assert_eq!(e.request_id.as_deref(), Some("601AA1A7F7E37AE9"));
    }

    #[test]
    fn cos_document_with_entities() {
        let body = b"<?xml version='1.0' encoding='utf-8' ?>\n<Error>\n\t<Code>SignatureDoesNotMatch</Code>\n\t<Message>The Signature you specified is invalid.</Message>\n\t<StringToSign>sha1\n1;2\nabc\n</StringToSign>\n\t<FormatString>put\n/a&amp;b\n\n\n</FormatString>\n</Error>";
        let e = parse_error(403, body).unwrap();
        assert_eq!(e.format_string.as_deref(), Some("put\n/a&b\n\n\n"));
        assert!(parse_error(200, b"<ListBucketResult/>").is_none());
    }

    #[test]
    fn cos_request_id_carries_the_server_clock() {
        // `NWNhYzEzZThf...` (spec/COS-ERRORS.md): 5cac13e8 = 2019-04-09T03:39:20Z
        let id = base64::engine::general_purpose::STANDARD.encode("5cac13e8_4d9e5864_6aa5_7a6c8f");
        assert_eq!(
            cos_request_id_time(&id),
            parse_user_time("2019-04-09T03:39:20Z")
        );
        assert_eq!(cos_request_id_time("not base64!"), None);
    }
}
