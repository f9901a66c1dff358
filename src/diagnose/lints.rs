//! Request lints from real support cases (COS FAQ): warnings that never change a verdict.

use crate::findings::{code, Finding};
use crate::sig::encode::{decoded_text, split_query};
use crate::wire::Request;

/// All lints that apply to a request. `signed_params` are the query names a COS signature
/// covers (`None` when the scheme signs every parameter).
pub fn lint(req: &Request, signed_params: Option<&[String]>) -> Vec<Finding> {
    let mut out = Vec::new();
    batch_delete_leading_slash(req, &mut out);
    copy_source(req, &mut out);
    if let Some(list) = signed_params {
        unsigned_response_params(req, list, &mut out);
    }
    out
}

fn has_param(req: &Request, name: &str) -> bool {
    req.query
        .as_deref()
        .is_some_and(|q| split_query(q).iter().any(|p| decoded_text(p.name) == name))
}

/// `POST ?delete` whose XML lists keys starting with `/`: the service answers success and
/// deletes nothing for those keys.
fn batch_delete_leading_slash(req: &Request, out: &mut Vec<Finding>) {
    if !req.method.eq_ignore_ascii_case("POST") || !has_param(req, "delete") {
        return;
    }
    let body = String::from_utf8_lossy(&req.body);
    let mut bad = Vec::new();
    let mut rest: &str = &body;
    while let Some(i) = rest.find("<Key>") {
        rest = &rest[i + 5..];
        let end = rest.find("</Key>").unwrap_or(rest.len());
        let key = &rest[..end];
        if key.starts_with('/') {
            bad.push(key.to_string());
        }
        rest = &rest[end..];
    }
    if !bad.is_empty() {
        out.push(
            Finding::warning(
                code::BATCH_DELETE_LEADING_SLASH,
                format!(
                    "the batch delete lists {} key(s) starting with '/' ({}): the service answers success but deletes nothing for them, because object keys have no leading slash",
                    bad.len(),
                    bad.iter().take(3).map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ")
                ),
            )
            .with("keys", bad),
        );
    }
}

fn needs_encoding(key: &str) -> bool {
    key.bytes()
        .any(|b| b == b' ' || b >= 0x80 || b.is_ascii_control() || b == b'#')
}

/// `x-cos-copy-source` / `x-amz-copy-source` of the documented shape.
fn copy_source(req: &Request, out: &mut Vec<Finding>) {
    if let Some(v) = req.header("x-cos-copy-source") {
        let (src, _version) = v.split_once("?versionId=").unwrap_or((v, ""));
        let problem = match src.split_once('/') {
            None => Some("it has no '/<key>' after the bucket host".to_string()),
            Some((host, key)) => {
                let host_ok = host.contains(".cos.") && host.ends_with(".myqcloud.com")
                    || host.ends_with(".tencentcos.cn");
                let bucket_ok = host
                    .split('.')
                    .next()
                    .and_then(|b| b.rsplit_once('-'))
                    .is_some_and(|(_, appid)| {
                        !appid.is_empty() && appid.bytes().all(|c| c.is_ascii_digit())
                    });
                if !host_ok || !bucket_ok {
                    Some(format!(
                        "{host:?} is not <bucket>-<appid>.cos.<region>.myqcloud.com"
                    ))
                } else if key.is_empty() {
                    Some("the key after the host is empty".into())
                } else if needs_encoding(key) {
                    Some(format!("the key {key:?} is not URL-encoded"))
                } else {
                    None
                }
            }
        };
        if let Some(p) = problem {
            out.push(Finding::warning(
                code::COPY_SOURCE_MALFORMED,
                format!("x-cos-copy-source {v:?}: {p}; the documented shape is <bucket>-<appid>.cos.<region>.myqcloud.com/<url-encoded key>[?versionId=...]"),
            ));
        }
    }
    if let Some(v) = req.header("x-amz-copy-source") {
        if v.starts_with("arn:") {
            return;
        }
        let (src, _) = v.split_once("?versionId=").unwrap_or((v, ""));
        let src = src.strip_prefix('/').unwrap_or(src);
        let problem = match src.split_once('/') {
            None => Some("it has no '/<key>' after the bucket".to_string()),
            Some((b, k)) if b.is_empty() || k.is_empty() => {
                Some("the bucket or the key is empty".to_string())
            }
            Some((_, k)) if needs_encoding(k) => Some(format!("the key {k:?} is not URL-encoded")),
            _ => None,
        };
        if let Some(p) = problem {
            out.push(Finding::warning(
                code::COPY_SOURCE_MALFORMED,
                format!("x-amz-copy-source {v:?}: {p}; the documented shape is [/]<bucket>/<url-encoded key>[?versionId=...]"),
            ));
        }
    }
}

/// COS `response-*` parameters that the signature does not cover.
fn unsigned_response_params(req: &Request, signed: &[String], out: &mut Vec<Finding>) {
    let Some(q) = req.query.as_deref() else {
        return;
    };
    for p in split_query(q) {
        let name = decoded_text(p.name).to_ascii_lowercase();
        if name.starts_with("response-") && !signed.contains(&name) {
            out.push(
                Finding::warning(
                    code::UNSIGNED_RESPONSE_PARAM,
                    format!("{name} is not in q-url-param-list: anyone can change how the response is served (content type, download name) without breaking the signature"),
                )
                .with("param", name),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(raw: &str) -> Request {
        Request::parse(raw.as_bytes()).unwrap()
    }

    #[test]
    fn leading_slash_in_batch_delete() {
        let r = req("POST /?delete HTTP/1.1\r\nContent-Length: 78\r\n\r\n<Delete><Object><Key>/a/b</Key></Object><Object><Key>c</Key></Object></Delete>");
        let f = lint(&r, None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, code::BATCH_DELETE_LEADING_SLASH);
        assert_eq!(f[0].evidence["keys"], serde_json::json!(["/a/b"]));
    }

    #[test]
    fn copy_sources() {
        let ok = req("PUT /k HTTP/1.1\r\nx-cos-copy-source: src-1250000000.cos.ap-guangzhou.myqcloud.com/a%20b.txt\r\nx-amz-copy-source: /b/k%20x?versionId=1\r\n\r\n");
        assert!(lint(&ok, None).is_empty());
        let bad = req("PUT /k HTTP/1.1\r\nx-cos-copy-source: src.cos.ap-guangzhou.myqcloud.com/a b.txt\r\nx-amz-copy-source: bucketonly\r\n\r\n");
        assert_eq!(lint(&bad, None).len(), 2);
        let unencoded = req("PUT /k HTTP/1.1\r\nx-cos-copy-source: src-1250000000.cos.ap-guangzhou.myqcloud.com/a b.txt\r\n\r\n");
        assert!(lint(&unencoded, None)[0]
            .message
            .contains("not URL-encoded"));
    }

    #[test]
    fn unsigned_response_param() {
        let r = req("GET /k?response-content-type=x&a=1 HTTP/1.1\r\n\r\n");
        assert_eq!(lint(&r, Some(&["a".into()])).len(), 1);
        assert!(lint(&r, Some(&["response-content-type".into()])).is_empty());
    }
}
