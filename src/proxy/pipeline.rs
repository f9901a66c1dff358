//! The pipeline every request goes through, whatever its transport: `plan` (route, inspect,
//! decide, re-sign: pure work on the head, no I/O) and the one place that finishes a request
//! sigtap answers itself (`finish_local`: the service's error document, the log record, the
//! recording). Transports (`lean.rs`, `via_hyper.rs`) move bytes and report what came back.

use super::body::{BoxError, ProxyBody};
use super::decide::{self, Decision};
use super::errors::{self, Dialect, ErrorCode, ErrorDoc};
use super::upstream::{self, Upstream};
use super::{head, log, Arrival, Mode, State};

use crate::policy::{self, Action};
use crate::sig::Scheme;
use crate::timefmt::{http_date, parse_http_date, rfc3339};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Response as HResponse;
use std::time::Instant;

/// The `uploadId` query parameter, if any.
pub(super) fn upload_id(req: &crate::wire::Request) -> Option<String> {
    let q = req.query.as_deref()?;
    crate::sig::encode::split_query(q)
        .iter()
        .find(|p| p.name == "uploadId")
        .map(|p| crate::sig::encode::decoded_text(p.value).into_owned())
}

/// Everything the pipeline decided about one request before a byte goes upstream: the
/// (possibly re-signed) request, where it goes, and its log record so far.
#[derive(Clone)]
pub(super) struct Outbound {
    pub rec: log::Record,
    pub outgoing: crate::wire::Request,
    pub upstream: Upstream,
    /// `--resolve` (and the embedded mock): connect here, keep the Host the request carries.
    pub connect_to: Option<String>,
    pub dialect: Dialect,
    pub reframe: Option<decide::Reframing>,
    pub upload: Option<String>,
    pub up_host: String,
    pub client_host: String,
    /// The client's method and path (error documents name them).
    pub method: String,
    pub path: String,
    pub now: i64,
    pub started: Instant,
}

/// The outcome of the pipeline's first phases.
pub(super) enum Planned {
    /// To be answered by sigtap itself (refused or rejected): `Local::finish` answers and logs.
    Local(Box<Local>),
    Forward(Box<Outbound>),
}

/// An answer sigtap gives itself, decided but not yet given: nothing is logged or recorded
/// until a transport calls `finish`.
pub(super) struct Local {
    rec: log::Record,
    dialect: Dialect,
    doc: ErrorDoc,
    now: i64,
    started: Instant,
}

impl Local {
    fn planned(
        rec: log::Record,
        dialect: Dialect,
        doc: ErrorDoc,
        now: i64,
        started: Instant,
    ) -> Planned {
        Planned::Local(Box::new(Local {
            rec,
            dialect,
            doc,
            now,
            started,
        }))
    }

    /// The answer, with its log record and recording written.
    pub(super) fn finish(self, st: &State) -> HResponse<http_body_util::Full<Bytes>> {
        finish_local(
            st,
            self.rec,
            self.dialect,
            &self.doc,
            self.now,
            self.started,
        )
    }
}

pub(super) fn boxed(r: HResponse<http_body_util::Full<Bytes>>) -> HResponse<ProxyBody> {
    let (parts, b) = r.into_parts();
    HResponse::from_parts(
        parts,
        BodyExt::boxed(b.map_err(|never| -> BoxError { match never {} })),
    )
}

/// Phases route, inspect, decide and re-sign: pure work on the request head, the same for
/// every transport. No I/O and nothing written: the time comes in (`local_now`, the machine's
/// clock; the upstream's offset is applied here), and a local answer is returned for the
/// transport to `finish`. What it updates is the proxy's memory (request ids, clocks learned).
pub(super) fn plan(
    st: &State,
    wire: crate::wire::Request,
    arrival: &Arrival,
    local_now: i64,
    started: Instant,
) -> Planned {
    let id = st.next_id();
    let named_host = record_host(arrival, &wire);
    // where this request goes
    let upstream = match &st.cfg.mode {
        // replaced by Reverse when the embedded mock starts
        // the embedded mock answers for any host: keep the client's, so that virtual-hosted
        // clients (coscmd's bucket-appid.cos.region.myqcloud.com) still name their bucket
        Mode::Reverse(u) if st.cfg.embedded => Upstream {
            scheme: "http".into(),
            authority: wire
                .authority
                .clone()
                .or_else(|| wire.header("host").map(str::to_string))
                .unwrap_or_else(|| u.authority.clone())
                .to_ascii_lowercase(),
            base_path: String::new(),
        },
        Mode::Reverse(u) => u.clone(),
        Mode::EmbeddedMock => Upstream {
            scheme: "http".into(),
            authority: "127.0.0.1:9".into(),
            base_path: String::new(),
        },
        Mode::Forward(allow) => {
            let scheme = wire
                .scheme
                .as_deref()
                .unwrap_or("http")
                .to_ascii_lowercase();
            let named = wire
                .authority
                .clone()
                .or_else(|| wire.header("host").map(str::to_string));
            let refuse = |status: u16, code: ErrorCode, message: String| {
                let now = local_now;
                let rec = log::Record {
                    id,
                    time: rfc3339(now),
                    method: wire.method.clone(),
                    // the log escapes whatever the client named
                    host: named_host.clone().filter(|h| !h.is_empty()),
                    transport: arrival.transport,
                    target: wire.origin_target(),
                    scheme: "none".into(),
                    carrier: "none".into(),
                    verdict: "unverified".into(),
                    ..Default::default()
                };
                // the error document names the host only when it is a plain one
                let host = named
                    .as_deref()
                    .and_then(|n| upstream::Authority::parse(n).ok())
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                let doc = ErrorDoc {
                    status,
                    code,
                    message,
                    extra: vec![],
                    resource: format!("{host}{}", wire.path),
                };
                Local::planned(rec, Dialect::for_host(&host), doc, now, started)
            };
            if wire.method == "CONNECT" {
                // a CONNECT is taken by the connection loop; this one came inside a tunnel
                return refuse(
                    405,
                    ErrorCode::MethodNotAllowed,
                    "sigtap: a CONNECT inside an intercepted tunnel is not tunnelled again".into(),
                );
            }
            if let Some(tunnel) = &arrival.tunnel {
                // inside an intercepted tunnel every request goes to the host the client
                // connected to (the allow list judged it), over TLS
                let same = |h: &str| {
                    upstream::Authority::parse(h).is_ok_and(|a| {
                        a.host == tunnel.host
                            && a.effective_port("https") == tunnel.effective_port("https")
                    })
                };
                let named_elsewhere = wire.authority.as_deref().is_some_and(|a| !same(a))
                    || wire.header("host").is_some_and(|h| !same(h));
                if named_elsewhere {
                    return refuse(400, ErrorCode::InvalidRequest, format!("sigtap: the request names another host than the tunnel's {tunnel} (CONNECT)"));
                }
                Upstream {
                    authority: tunnel.for_scheme("https"),
                    scheme: "https".into(),
                    base_path: String::new(),
                }
            } else {
                if scheme != "http" && scheme != "https" {
                    return refuse(
                        400,
                        ErrorCode::InvalidRequest,
                        "sigtap forward proxy: only http and https targets are forwarded".into(),
                    );
                }
                let Some(named) = named.as_deref() else {
                    return refuse(400, ErrorCode::InvalidRequest, "sigtap forward proxy: the request names no host (absolute-form target or Host header)".into());
                };
                // judge exactly where a connection would go: a host and a port, nothing else
                let authority = match upstream::Authority::parse(named) {
                    Ok(a) => a,
                    Err(e) => {
                        return refuse(
                            400,
                            ErrorCode::InvalidRequest,
                            format!(
                            "sigtap forward proxy: the request's host {e}; no connection was made"
                        ),
                        )
                    }
                };
                if !allow.iter().any(|p| p.matches(&authority, &scheme)) {
                    return refuse(403, ErrorCode::AccessDenied, format!("sigtap forward proxy: host {authority} is not allowed (--allow-host); no connection was made"));
                }
                let same_place = |h: &str| {
                    upstream::Authority::parse(h).is_ok_and(|a| {
                        a.host == authority.host
                            && a.effective_port(&scheme) == authority.effective_port(&scheme)
                    })
                };
                if wire.authority.is_some() && wire.header("host").is_some_and(|h| !same_place(h)) {
                    return refuse(400, ErrorCode::InvalidRequest, format!("sigtap forward proxy: the Host header does not name the target's host {authority}"));
                }
                Upstream {
                    authority: authority.for_scheme(&scheme),
                    scheme,
                    base_path: String::new(),
                }
            }
        }
    };
    let up_host = upstream.authority.clone();
    let offset = st.clocks.offset(&up_host);
    let now = local_now + offset;
    // phase: inspect
    // the keys of this moment, kept to the end of this request whatever a reload does
    let keys = st.keys.current();
    let report = keys.inspector.inspect_head(&wire, now);
    let upload = upload_id(&wire);
    let mut findings = report.findings.clone();
    if let Some(ak) = &report.access_key {
        if report.carrier == crate::sig::Carrier::Query {
            st.client_clocks.explain(ak, &mut findings, now);
        } else {
            st.client_clocks.learn(ak, &findings, now);
        }
    }
    if let Some(u) = &upload {
        let seen = st
            .finished_uploads
            .lock()
            .map(|s| s.contains(u))
            .unwrap_or(false);
        if seen && wire.method == "PUT" {
            findings.push(crate::findings::Finding::warning(
                crate::findings::code::NO_SUCH_UPLOAD,
                format!("a part for upload {u}, which this proxy saw completed or aborted: the service will answer NoSuchUpload"),
            ));
        }
    }
    let mut rec = log::Record {
        id,
        time: rfc3339(local_now),
        method: wire.method.clone(),
        host: named_host,
        transport: arrival.transport,
        target: wire.origin_target(),
        scheme: report.scheme.as_str().into(),
        carrier: report.carrier.as_str().into(),
        access_key: report.access_key.clone(),
        verdict: report.verdict.as_str().into(),
        findings,
        clock_offset_s: (offset != 0).then_some(offset),
        client_offset_s: report.client_offset,
        // only a recording needs the request's headers again
        req_headers: if st.cfg.recorder.is_some() {
            wire.headers.clone()
        } else {
            Vec::new()
        },
        tokens: log::request_tokens(&wire),
        ..Default::default()
    };
    if st.cfg.sink.observed() {
        // the web view shows the stages, the times and the headers as received
        rec.detail = Some(Box::new(crate::outcome::Detail {
            stages: report.stages.clone(),
            window: report.window,
            judged_at: now,
            local_now,
            headers: wire.headers.clone(),
            upstream: format!("{}://{}", upstream.scheme, upstream.authority),
        }));
    }
    let dialect = match report.scheme {
        Scheme::Cos => Dialect::Cos,
        Scheme::Sigv4 | Scheme::Sigv2 => Dialect::S3,
        Scheme::None => Dialect::for_host(&up_host),
    };
    let client_host = wire.host().unwrap_or("").to_ascii_lowercase();
    let host_changed = client_host != up_host;
    // phase: decide
    let decision = decide::decide(
        &report,
        st.cfg.resign,
        st.cfg.sign_as,
        host_changed,
        keys.identity.is_some(),
    );
    // signing with the identity adds credentials the client did not have: only for a client
    // sigtap can vouch for
    let decision = match decision {
        Decision::Resign { identity: true, .. } => {
            let reverse = !matches!(st.cfg.mode, Mode::Forward(_));
            match st
                .cfg
                .vouch
                .check(wire.header("host"), wire.header("origin"), reverse)
            {
                Ok(()) => decision,
                Err(message) => Decision::Reject {
                    answer: policy::ACCESS_DENIED,
                    message: Some(message),
                },
            }
        }
        d => d,
    };
    // a temporary identity is not used in its last minute: without a fresh one, 503
    let decision = match decision {
        Decision::Resign { identity: true, .. } => match keys.identity_unusable(local_now) {
            Some(why) => Decision::Reject {
                answer: policy::NO_IDENTITY,
                message: Some(why),
            },
            None => decision,
        },
        d => d,
    };
    let mut reframe: Option<decide::Reframing> = None;
    let (outgoing, action, resigned_as) = match decision {
        Decision::Reject { answer, message } => {
            let e = answer.get(dialect);
            let extra = if e.code == ErrorCode::SignatureDoesNotMatch {
                errors::signature_extras(dialect, &report.stages, &rec.tokens)
            } else {
                Vec::new()
            };
            let doc = ErrorDoc {
                status: e.status,
                code: e.code,
                message: message.unwrap_or_else(|| e.message.to_string()),
                extra,
                resource: format!("{client_host}{}", wire.path),
            };
            return Local::planned(rec, dialect, doc, now, started);
        }
        Decision::Forward { note } => {
            rec.note = note;
            (wire, Action::Forwarded, None)
        }
        Decision::Resign { reason, identity } => {
            let cred = if identity {
                keys.identity.as_ref()
            } else {
                report
                    .access_key
                    .as_deref()
                    .and_then(|ak| keys.inspector.keys.get(ak))
            };
            match cred {
                None => {
                    rec.note = Some(format!(
                        "{reason}, but no secret to re-sign with; forwarded unchanged"
                    ));
                    (wire, Action::Forwarded, None)
                }
                Some(cred) => {
                    let p = decide::ResignParams {
                        cred,
                        upstream_host: &up_host,
                        now,
                        region: st.cfg.region.as_deref(),
                        sign_as: st.cfg.sign_as,
                        fresh: identity,
                    };
                    match decide::resign(&wire, &report, &p, &keys.inspector.cache) {
                        Ok((r, scheme, rf)) => {
                            let mut note = format!("re-signed: {reason}");
                            if rf.is_some() {
                                note.push_str(
                                    "; aws-chunked body verified and re-framed chunk by chunk",
                                );
                            }
                            reframe = rf;
                            if offset != 0 {
                                note.push_str(&format!(
                                    "; signed with the upstream's clock ({offset:+}s from local)"
                                ));
                            }
                            rec.note = Some(note);
                            rec.resigned_with = Some(cred.access_key.clone());
                            (r, Action::Resigned, Some(scheme.as_str().to_string()))
                        }
                        Err(why) => {
                            rec.note = Some(format!("{reason}, but {why}; forwarded unchanged"));
                            (wire, Action::Forwarded, None)
                        }
                    }
                }
            }
        }
    };
    rec.action = action;
    rec.resigned_as = resigned_as;
    let connect_to = match &st.cfg.mode {
        Mode::Reverse(mock) if st.cfg.embedded => Some(mock.authority.clone()),
        _ => st
            .cfg
            .resolve
            .iter()
            .find(|r| r.applies_to(&upstream))
            .map(|r| r.to.to_string()),
    };
    Planned::Forward(Box::new(Outbound {
        rec,
        method: outgoing.method.clone(),
        path: outgoing.path.clone(),
        outgoing,
        upstream,
        connect_to,
        dialect,
        reframe,
        upload,
        up_host,
        client_host,
        now,
        started,
    }))
}

impl Outbound {
    /// An answer from sigtap itself when forwarding failed (502/504, a failed body check).
    pub(super) fn failed(
        mut self,
        st: &State,
        status: u16,
        code: ErrorCode,
        message: String,
    ) -> HResponse<http_body_util::Full<Bytes>> {
        let doc = ErrorDoc {
            status,
            code,
            message,
            extra: vec![],
            resource: format!("{}{}", self.client_host, self.path),
        };
        self.rec.duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        // what went wrong with the upstream is the upstream's part of the record
        if matches!(code, ErrorCode::BadGateway | ErrorCode::GatewayTimeout) {
            self.rec.upstream_error_message = Some(doc.message.clone());
        }
        finish_local(st, self.rec, self.dialect, &doc, self.now, self.started)
    }

    /// The answer when the upstream's small error body stopped or ended before its length
    /// (read whole before anything goes to the client): `502`, the same on every transport.
    pub(super) fn error_body_broke_off(
        mut self,
        st: &State,
        status: u16,
    ) -> HResponse<http_body_util::Full<Bytes>> {
        self.rec.note = Some(format!("the upstream's {status} answer broke off"));
        let msg = format!(
            "sigtap: the upstream's {status} error body stopped before its end (within --upstream-timeout, {}s)",
            st.cfg.upstream_timeout.as_secs()
        );
        self.failed(st, 502, ErrorCode::BadGateway, msg)
    }

    /// What every upstream answer teaches: its clock, finished uploads, the status.
    pub(super) fn learn_from_answer(&mut self, st: &State, status: u16, date: Option<&str>) {
        if let Some(t) = date.and_then(parse_http_date) {
            let off = t - st.cfg.clock.now();
            st.clocks.learn(&self.up_host, off);
            self.rec.clock_offset_s = Some(off);
        }
        if let (Some(u), true) = (&self.upload, status < 300) {
            if self.method == "POST" || self.method == "DELETE" {
                if let Ok(mut s) = st.finished_uploads.lock() {
                    if s.len() > 100_000 {
                        s.clear();
                    }
                    s.insert(u.clone());
                }
            }
        }
        self.rec.upstream_status = Some(status);
        self.rec.status = status;
    }
}

/// Reads the service's error code, message and request id from a small error body.
pub(super) fn note_error_body(rec: &mut log::Record, status: u16, body: &[u8]) {
    if let Some(e) = crate::diagnose::upstream::parse_error(status, body) {
        rec.upstream_error_code = Some(e.code);
        rec.upstream_error_message = Some(e.message);
        rec.upstream_request_id = e.request_id;
    }
    rec.bytes_out = body.len() as u64;
}

/// Error bodies up to this size are read whole, so the log can name the service's error.
pub(super) const SMALL_ERROR: u64 = 64 * 1024;

pub(super) fn timeout_message(st: &State, upstream: &Upstream) -> String {
    format!(
        "sigtap: the upstream {} did not answer within {}s (--upstream-timeout)",
        upstream.authority,
        st.cfg.upstream_timeout.as_secs()
    )
}

/// The answer to a request head the connection loop refused (`head::Refusal`): the service's
/// error document, and a log record whose target shows the bytes received.
pub(super) fn refuse_head(
    st: &State,
    r: head::Refusal,
    arrival: &Arrival,
    now: i64,
    started: Instant,
) -> HResponse<http_body_util::Full<Bytes>> {
    let rec = log::Record {
        id: st.next_id(),
        time: rfc3339(now),
        method: r.method.clone(),
        host: match &arrival.tunnel {
            Some(t) => Some(t.for_scheme("https")),
            None => r.host.clone(),
        },
        transport: arrival.transport,
        target: String::from_utf8_lossy(&r.target).into_owned(),
        scheme: "none".into(),
        carrier: "none".into(),
        verdict: "unverified".into(),
        ..Default::default()
    };
    let host = r.host.as_deref().unwrap_or("");
    let dialect = Dialect::for_host(host);
    let doc = ErrorDoc {
        status: r.status,
        code: r.code,
        message: r.message,
        extra: vec![],
        resource: String::from_utf8_lossy(&r.target).into_owned(),
    };
    finish_local(st, rec, dialect, &doc, now, started)
}

/// A `CONNECT` outside a tunnel: the host and port to intercept when the allow list permits
/// them (`HostPattern::allows_connect`: port 443, or a pattern naming the port; loopback only
/// when named), else the local answer (nothing is connected anywhere). Pure, as `plan`; an
/// accepted CONNECT gets no log record of its own: the requests inside the tunnel do.
pub(super) fn plan_connect(
    st: &State,
    target: &str,
    wire: crate::wire::Request,
    local_now: i64,
    started: Instant,
) -> Result<upstream::Authority, Box<Local>> {
    let refuse = |status: u16, code: ErrorCode, message: String| {
        let host = upstream::Authority::parse(target)
            .map(|a| a.host)
            .unwrap_or_default();
        let rec = log::Record {
            id: st.next_id(),
            time: rfc3339(local_now),
            method: wire.method.clone(),
            host: Some(target.to_string()).filter(|t| !t.is_empty()),
            target: target.to_string(),
            scheme: "none".into(),
            carrier: "none".into(),
            verdict: "unverified".into(),
            ..Default::default()
        };
        let doc = ErrorDoc {
            status,
            code,
            message,
            extra: vec![],
            resource: host.clone(),
        };
        Box::new(Local {
            rec,
            dialect: Dialect::for_host(&host),
            doc,
            now: local_now,
            started,
        })
    };
    let Mode::Forward(allow) = &st.cfg.mode else {
        return Err(refuse(405, ErrorCode::MethodNotAllowed, "sigtap: CONNECT is intercepted in forward mode (--forward); this proxy sends every request to its --upstream".into()));
    };
    let a = match upstream::Authority::parse(target) {
        Ok(a) if a.port.is_some() => a,
        Ok(_) => {
            return Err(refuse(
                400,
                ErrorCode::InvalidRequest,
                "sigtap: a CONNECT target is HOST:PORT".into(),
            ))
        }
        Err(e) => {
            return Err(refuse(
                400,
                ErrorCode::InvalidRequest,
                format!("sigtap: the CONNECT target {e}; no connection was made"),
            ))
        }
    };
    if !allow.iter().any(|p| p.allows_connect(&a)) {
        return Err(refuse(403, ErrorCode::AccessDenied, format!("sigtap forward proxy: CONNECT to {a} is not allowed (--allow-host HOST, or HOST:PORT for a port other than 443; loopback only when named); no connection was made")));
    }
    if let Err(why) = &st.tls.leaves {
        return Err(refuse(
            503,
            ErrorCode::ServiceUnavailable,
            format!("sigtap cannot intercept HTTPS: {why}"),
        ));
    }
    Ok(a)
}

/// The host a record names: the tunnel's (CONNECT) host inside an intercepted tunnel, else the
/// one the client wrote (the absolute-form authority, else `Host`).
fn record_host(arrival: &Arrival, wire: &crate::wire::Request) -> Option<String> {
    match &arrival.tunnel {
        Some(t) => Some(t.for_scheme("https")),
        None => wire
            .authority
            .clone()
            .or_else(|| wire.header("host").map(str::to_string)),
    }
}

pub(super) fn finish_local(
    st: &State,
    mut rec: log::Record,
    dialect: Dialect,
    doc: &ErrorDoc,
    now: i64,
    started: Instant,
) -> HResponse<http_body_util::Full<Bytes>> {
    let rid = errors::request_id(dialect, now, rec.id);
    let resp = errors::response(dialect, doc, &rid, &http_date(now));
    rec.action = Action::local(doc.status);
    rec.status = doc.status;
    let answered = format!("answered locally: {} {}", doc.code, doc.message);
    rec.note = Some(match rec.note.take() {
        Some(n) => format!("{n}; {answered}"),
        None => answered,
    });
    rec.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    st.cfg.sink.record(&rec);
    if let Some(r) = &st.cfg.recorder {
        let body = errors::body(dialect, doc, &rid);
        r.write(&crate::record::exchange(
            &rec,
            &header_pairs(resp.headers()),
            r.body_json(body.as_bytes()),
        ));
    }
    resp
}

pub(super) fn header_pairs(h: &hyper::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
