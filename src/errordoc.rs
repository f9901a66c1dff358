//! The one place that turns a refusal into an HTTP answer, in the service's own error format
//! (S3 or COS XML, exactly as their SDKs parse them), marked as made by sigtap.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;

pub use crate::service_error::{Dialect, ErrorCode};

/// An error document to send.
#[derive(Clone, Debug)]
pub struct ErrorDoc {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    /// Extra elements in order (`StringToSign`, `ServerTime`, ...).
    pub extra: Vec<(&'static str, String)>,
    /// COS `<Resource>`: host and decoded path.
    pub resource: String,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A request id in each service's shape. COS ids carry the server clock in hex first,
/// like the service's own (`base64("<hex secs>_<hex>_<hex>_<hex>")`).
pub fn request_id(dialect: Dialect, now: i64, seq: u64) -> String {
    use base64::Engine;
    match dialect {
        Dialect::S3 => format!("SIGTAP{:010X}", seq),
        Dialect::Cos => base64::engine::general_purpose::STANDARD.encode(format!(
            "{now:08x}_{:08x}_{:x}_{:x}",
            0x5167_7a70u32,
            std::process::id(),
            seq
        )),
    }
}

/// The elements a `SignatureDoesNotMatch` document carries, as the service shows them: the
/// StringToSign, plus the CanonicalRequest (S3) or the FormatString, i.e. HttpString (COS).
/// `tokens`: session tokens of the request, shortened wherever the texts show them.
pub fn signature_extras(
    dialect: Dialect,
    stages: &crate::inspect::Stages,
    tokens: &[String],
) -> Vec<(&'static str, String)> {
    let mut extra = Vec::new();
    if let Some(s) = &stages.string_to_sign {
        extra.push(("StringToSign", s.clone()));
    }
    let canonical = match dialect {
        Dialect::S3 => stages
            .canonical_request
            .as_ref()
            .map(|c| ("CanonicalRequest", c)),
        Dialect::Cos => stages.http_string.as_ref().map(|h| ("FormatString", h)),
    };
    if let Some((k, v)) = canonical {
        extra.push((k, crate::redact::redact_tokens(v, tokens)));
    }
    extra
}

/// Renders the body text of an error document.
pub fn body(dialect: Dialect, doc: &ErrorDoc, request_id: &str) -> String {
    match dialect {
        Dialect::S3 => {
            let mut s = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>",
                doc.code,
                esc(&doc.message)
            );
            for (k, v) in &doc.extra {
                s.push_str(&format!("<{k}>{}</{k}>", esc(v)));
            }
            s.push_str(&format!(
                "<RequestId>{request_id}</RequestId><HostId>sigtap</HostId></Error>"
            ));
            s
        }
        Dialect::Cos => {
            let mut s = format!(
                "<?xml version='1.0' encoding='utf-8' ?>\n<Error>\n\t<Code>{}</Code>\n\t<Message>{}</Message>\n",
                doc.code,
                esc(&doc.message)
            );
            for (k, v) in &doc.extra {
                s.push_str(&format!("\t<{k}>{}</{k}>\n", esc(v)));
            }
            s.push_str(&format!(
                "\t<Resource>{}</Resource>\n\t<RequestId>{request_id}</RequestId>\n\t<TraceId>{request_id}</TraceId>\n</Error>",
                esc(&doc.resource)
            ));
            s
        }
    }
}

/// The full HTTP answer.
pub fn response(
    dialect: Dialect,
    doc: &ErrorDoc,
    request_id: &str,
    date: &str,
) -> Response<Full<Bytes>> {
    let text = body(dialect, doc, request_id);
    let mut b = Response::builder()
        .status(doc.status)
        .header("content-type", "application/xml")
        .header("content-length", text.len())
        .header("date", date)
        .header("x-sigtap", "answered-by-proxy");
    b = match dialect {
        Dialect::S3 => b
            .header("x-amz-request-id", request_id)
            .header("x-amz-id-2", "sigtap"),
        Dialect::Cos => b
            .header("server", "tencent-cos")
            .header("x-cos-request-id", request_id)
            .header("x-cos-trace-id", request_id),
    };
    b.body(Full::new(Bytes::from(text)))
        .expect("static header names and values are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_and_cos_documents_have_what_sdks_read() {
        let doc = ErrorDoc {
            status: 403,
            code: ErrorCode::SignatureDoesNotMatch,
            message:
                "The request signature we calculated does not match the signature you provided."
                    .into(),
            extra: vec![("StringToSign", "a\n<b>".into())],
            resource: "b-1250000000.cos.ap-guangzhou.myqcloud.com/k".into(),
        };
        let s3 = body(Dialect::S3, &doc, "ID1");
        for part in [
            "<Code>SignatureDoesNotMatch</Code>",
            "<Message>",
            "<RequestId>ID1</RequestId>",
            "<HostId>",
            "&lt;b&gt;",
        ] {
            assert!(s3.contains(part), "{part} in {s3}");
        }
        let cos = body(Dialect::Cos, &doc, "ID2");
        for part in [
            "\t<Code>SignatureDoesNotMatch</Code>",
            "<Resource>b-1250000000",
            "<RequestId>ID2</RequestId>",
            "<TraceId>",
        ] {
            assert!(cos.contains(part), "{part} in {cos}");
        }
        let stages = crate::inspect::Stages {
            canonical_request: Some("GET\n/".into()),
            http_string: Some("get\n/\n\n\n".into()),
            string_to_sign: Some("sts".into()),
            ..Default::default()
        };
        let s3x = signature_extras(Dialect::S3, &stages, &[]);
        assert_eq!(
            s3x,
            vec![
                ("StringToSign", "sts".to_string()),
                ("CanonicalRequest", "GET\n/".to_string())
            ]
        );
        let cosx = signature_extras(Dialect::Cos, &stages, &[]);
        assert_eq!(cosx[1], ("FormatString", "get\n/\n\n\n".to_string()));
        let id = request_id(Dialect::Cos, 0x5cac13e8, 7);
        assert_eq!(
            crate::diagnose::upstream::cos_request_id_time(&id),
            Some(0x5cac13e8)
        );
    }
}
