//! The counters behind `/metrics`: every request's [`Record`] counted as the log writes it, in
//! plain atomics laid out in advance (no lock, allocation or formatting per request), and the
//! Prometheus text written from them by `prometheus-client` at scrape time.

use crate::diagnose::{mismatch, time};
use crate::findings::Code;
use crate::outcome::Record;
use crate::policy::Action;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// The client's verdict, as `sigtap_requests_total{verdict}` names it.
pub const VERDICTS: [&str; 3] = ["valid", "invalid", "unverified"];

/// Finding causes known in advance (each gets its own counters); another one is counted too,
/// through a small locked list (the rare path).
const CAUSES: [&str; 12] = [
    time::cause::CLIENT_CLOCK_BEHIND,
    time::cause::CLIENT_CLOCK_AHEAD,
    time::cause::TIMEZONE_OFFSET,
    time::cause::USED_TOO_LATE,
    time::cause::UNKNOWN,
    mismatch::cause::WRONG_SECRET,
    mismatch::cause::HOST_CHANGED,
    mismatch::cause::HEADER_CHANGED,
    mismatch::cause::PATH_ENCODING,
    mismatch::cause::QUERY_CHANGED,
    mismatch::cause::SCOPE_MISMATCH,
    mismatch::cause::UNEXPLAINED,
];

/// What went wrong talking to the upstream, when sigtap answered 502/504 itself
/// (`sigtap_upstream_errors_total{kind}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamError {
    /// No answer within `--upstream-timeout` (504).
    Timeout,
    /// The connection could not be made (refused, unreachable, name not resolved).
    Connect,
    /// The TLS handshake or the certificate check failed.
    Tls,
    /// The connection closed before a whole answer head arrived.
    Closed,
    /// The answer head was not HTTP sigtap could read.
    Malformed,
    /// A small error answer whose body broke off before its end.
    ErrorBody,
    /// Anything else (another I/O error on the connection).
    Other,
}

impl UpstreamError {
    pub const ALL: [UpstreamError; 7] = [
        UpstreamError::Timeout,
        UpstreamError::Connect,
        UpstreamError::Tls,
        UpstreamError::Closed,
        UpstreamError::Malformed,
        UpstreamError::ErrorBody,
        UpstreamError::Other,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            UpstreamError::Timeout => "timeout",
            UpstreamError::Connect => "connect",
            UpstreamError::Tls => "tls",
            UpstreamError::Closed => "closed",
            UpstreamError::Malformed => "malformed",
            UpstreamError::ErrorBody => "error_body",
            UpstreamError::Other => "other",
        }
    }

    /// The kind of upstream failure a record tells of: a request sigtap answered itself with
    /// 502/504 because forwarding failed (the transports word the same failure the same way,
    /// and that wording is what is read here). `None` for anything else, including the
    /// upstream's own error answers.
    pub fn of(r: &Record) -> Option<UpstreamError> {
        if r.action != Action::Failed || !matches!(r.status, 502 | 504) {
            return None;
        }
        let msg = r.upstream_error_message.as_deref()?;
        let msg = msg.strip_prefix("sigtap: ").unwrap_or(msg);
        Some(if r.status == 504 {
            UpstreamError::Timeout
        } else if msg.contains("error body stopped before its end") {
            UpstreamError::ErrorBody
        } else if msg.starts_with("cannot connect to the upstream") {
            UpstreamError::Connect
        } else if msg.contains("TLS") {
            UpstreamError::Tls
        } else if msg.contains("closed before a whole answer head arrived") {
            UpstreamError::Closed
        } else if msg.contains("answer is malformed") {
            UpstreamError::Malformed
        } else {
            UpstreamError::Other
        })
    }
}

/// `sigtap_requests_total{verdict}`'s value for a record's verdict text.
pub fn verdict_index(v: &str) -> usize {
    match v {
        "valid" => 0,
        "invalid" => 1,
        _ => 2,
    }
}

/// A histogram whose buckets are atomics: observing takes two atomic additions (the bucket,
/// the sum); the count and the cumulative buckets are made at scrape time.
#[derive(Debug)]
struct Buckets {
    /// Upper bounds, ascending (`+Inf` is implied).
    bounds: &'static [f64],
    counts: Box<[AtomicU64]>,
    /// The sum, in `1 / scale` units (integers add without a lock).
    sum: AtomicU64,
    scale: f64,
}

impl Buckets {
    fn new(bounds: &'static [f64], scale: f64) -> Buckets {
        Buckets {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            scale,
        }
    }

    fn observe(&self, v: f64) {
        let v = v.max(0.0);
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i].fetch_add(1, Relaxed);
        self.sum.fetch_add((v * self.scale) as u64, Relaxed);
    }

    fn encode(&self, mut m: MetricEncoder) -> Result<(), std::fmt::Error> {
        let mut buckets: Vec<(f64, u64)> = Vec::with_capacity(self.counts.len());
        let mut count = 0;
        for (i, c) in self.counts.iter().enumerate() {
            let n = c.load(Relaxed);
            count += n;
            buckets.push((self.bounds.get(i).copied().unwrap_or(f64::INFINITY), n));
        }
        let sum = self.sum.load(Relaxed) as f64 / self.scale;
        m.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }
}

/// Seconds a request took (to the answer's head, for an answer streamed on).
const DURATION_BOUNDS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];
/// Seconds a client's clock is off (absolute): the services allow 15 minutes (SigV4) and a
/// time-zone mistake is a whole number of hours.
const OFFSET_BOUNDS: [f64; 13] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 43200.0, 86400.0,
];
/// Upstream statuses counted one by one (anything else: the last slot, shown as 0).
const STATUSES: usize = 1000;

/// Everything counted per request. Shared by the log (which counts) and the admin server
/// (which reads).
#[derive(Debug)]
pub struct Metrics {
    /// By verdict, then by [`Action`] (in `Action::ALL` order).
    requests: [[AtomicU64; 4]; 3],
    duration: Buckets,
    /// By [`Code`] (in `Code::ALL` order), then by cause: none, then [`CAUSES`].
    findings: Box<[[AtomicU64; CAUSES.len() + 1]]>,
    /// Findings whose cause is not in [`CAUSES`].
    findings_other: Mutex<Vec<(Code, &'static str, u64)>>,
    upstream_status: Box<[AtomicU64]>,
    upstream_errors: [AtomicU64; UpstreamError::ALL.len()],
    client_offset: Buckets,
    /// The upstream's clock minus sigtap's, from the last answer that had a `Date`.
    upstream_offset: AtomicI64,
    upstream_offset_known: std::sync::atomic::AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            requests: Default::default(),
            duration: Buckets::new(&DURATION_BOUNDS, 1e9),
            findings: (0..Code::ALL.len()).map(|_| Default::default()).collect(),
            findings_other: Mutex::new(Vec::new()),
            upstream_status: (0..STATUSES).map(|_| AtomicU64::new(0)).collect(),
            upstream_errors: Default::default(),
            client_offset: Buckets::new(&OFFSET_BOUNDS, 1.0),
            upstream_offset: AtomicI64::new(0),
            upstream_offset_known: Default::default(),
        }
    }

    /// Counts one answered request (the log calls this once per record).
    pub fn count(&self, r: &Record) {
        self.requests[verdict_index(&r.verdict)][r.action as usize].fetch_add(1, Relaxed);
        self.duration.observe(r.duration_ms / 1000.0);
        if let Some(s) = r.upstream_status {
            self.upstream_status[(s as usize).min(STATUSES - 1)].fetch_add(1, Relaxed);
        }
        if let Some(o) = r.clock_offset_s {
            // the same offset answer after answer: read, and write only when it changed
            if self.upstream_offset.load(Relaxed) != o || !self.upstream_offset_known.load(Relaxed)
            {
                self.upstream_offset.store(o, Relaxed);
                self.upstream_offset_known.store(true, Relaxed);
            }
        }
        if r.action == Action::Failed {
            if let Some(k) = UpstreamError::of(r) {
                self.upstream_errors[k as usize].fetch_add(1, Relaxed);
            }
        }
        // the client's clock as the request says it, else as a finding measured it (an expired
        // presigned URL read with what the same key's requests showed)
        let mut offset = r.client_offset_s;
        for f in &r.findings {
            self.finding(f.code, f.cause);
            if offset.is_none() {
                offset = f
                    .evidence
                    .get("client_offset_seconds")
                    .and_then(serde_json::Value::as_i64);
            }
        }
        if let Some(o) = offset {
            self.client_offset.observe(o.unsigned_abs() as f64);
        }
    }

    fn finding(&self, code: Code, cause: Option<&'static str>) {
        let slot = match cause {
            None => Some(0),
            Some(c) => CAUSES.iter().position(|k| *k == c).map(|i| i + 1),
        };
        match (slot, cause) {
            (Some(i), _) => {
                self.findings[code as usize][i].fetch_add(1, Relaxed);
            }
            (None, Some(c)) => {
                let mut other = match self.findings_other.lock() {
                    Ok(o) => o,
                    Err(p) => p.into_inner(),
                };
                match other.iter_mut().find(|(k, n, _)| *k == code && *n == c) {
                    Some(e) => e.2 += 1,
                    None => other.push((code, c, 1)),
                }
            }
            (None, None) => {}
        }
    }

    /// The Prometheus text exposition of these counters and of `identity` (read now).
    pub fn exposition(self: &Arc<Self>, identity: Identity) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Scrape {
            m: self.clone(),
            identity,
        }));
        let mut out = String::with_capacity(8 * 1024);
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
        out
    }
}

/// What the proxy says about its upstream identity at scrape time (nothing of it is counted
/// per request).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// When the temporary upstream identity expires (unix seconds); `None` for keys that do
    /// not expire.
    pub expiry: Option<i64>,
    /// Refreshes of the temporary identity that succeeded and failed.
    pub refreshed: u64,
    pub refresh_failed: u64,
}

/// One scrape: the counters and the identity, written by `prometheus-client`.
#[derive(Debug)]
struct Scrape {
    m: Arc<Metrics>,
    identity: Identity,
}

fn counter(m: &mut MetricEncoder, n: u64) -> Result<(), std::fmt::Error> {
    m.encode_counter::<NoLabelSet, u64, u64>(&n, None)
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = &self.m;
        let mut d = enc.encode_descriptor(
            "sigtap_requests",
            "Requests sigtap answered (forwarded, re-signed, or answered itself), by the client signature's verdict and what sigtap did.",
            None,
            MetricType::Counter,
        )?;
        for (v, row) in VERDICTS.iter().zip(&m.requests) {
            for (a, n) in Action::ALL.iter().zip(row) {
                let labels = [("verdict", *v), ("action", a.as_str())];
                counter(&mut d.encode_family(&labels)?, n.load(Relaxed))?;
            }
        }
        m.duration.encode(enc.encode_descriptor(
            "sigtap_request_duration",
            "Time from a request's head to sigtap's answer head (a streamed answer's body is not included).",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?)?;
        let mut d = enc.encode_descriptor(
            "sigtap_findings",
            "Findings on requests, by finding code (see `sigtap explain CODE`) and cause (empty when the finding has none).",
            None,
            MetricType::Counter,
        )?;
        for (code, row) in Code::ALL.iter().zip(m.findings.iter()) {
            for (i, n) in row.iter().enumerate() {
                let n = n.load(Relaxed);
                if n == 0 {
                    continue;
                }
                let cause = if i == 0 { "" } else { CAUSES[i - 1] };
                let labels = [("code", code.as_str()), ("cause", cause)];
                counter(&mut d.encode_family(&labels)?, n)?;
            }
        }
        let other = match m.findings_other.lock() {
            Ok(o) => o.clone(),
            Err(p) => p.into_inner().clone(),
        };
        for (code, cause, n) in other {
            let labels = [("code", code.as_str()), ("cause", cause)];
            counter(&mut d.encode_family(&labels)?, n)?;
        }
        let mut d = enc.encode_descriptor(
            "sigtap_upstream_responses",
            "Answers from the upstream, by HTTP status.",
            None,
            MetricType::Counter,
        )?;
        for (status, n) in m.upstream_status.iter().enumerate() {
            let n = n.load(Relaxed);
            if n > 0 {
                let s = if status == STATUSES - 1 { 0 } else { status };
                counter(&mut d.encode_family(&[("status", s)])?, n)?;
            }
        }
        let mut d = enc.encode_descriptor(
            "sigtap_upstream_errors",
            "Requests sigtap answered 502/504 itself because talking to the upstream failed, by kind: timeout, connect, tls, closed, malformed, error_body, other.",
            None,
            MetricType::Counter,
        )?;
        for (k, n) in UpstreamError::ALL.iter().zip(&m.upstream_errors) {
            counter(
                &mut d.encode_family(&[("kind", k.as_str())])?,
                n.load(Relaxed),
            )?;
        }
        m.client_offset.encode(enc.encode_descriptor(
            "sigtap_client_clock_offset",
            "How far off a client's clock is (absolute seconds), observed once per request that says when its client signed it (X-Amz-Date, Date, a COS key time) or whose findings measured it.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?)?;
        if m.upstream_offset_known.load(Relaxed) {
            enc.encode_descriptor(
                "sigtap_upstream_clock_offset",
                "The upstream's clock minus sigtap's, from the Date of its latest answer (seconds).",
                Some(&Unit::Seconds),
                MetricType::Gauge,
            )?
            .encode_gauge(&m.upstream_offset.load(Relaxed))?;
        }
        if let Some(e) = self.identity.expiry {
            enc.encode_descriptor(
                "sigtap_credentials_expiry_timestamp",
                "When the temporary upstream identity expires (unix time); absent for keys that do not expire.",
                Some(&Unit::Seconds),
                MetricType::Gauge,
            )?
            .encode_gauge(&e)?;
        }
        let mut d = enc.encode_descriptor(
            "sigtap_credentials_refresh",
            "Fetches of the temporary upstream identity, by result (ok, failed).",
            None,
            MetricType::Counter,
        )?;
        counter(
            &mut d.encode_family(&[("result", "ok")])?,
            self.identity.refreshed,
        )?;
        counter(
            &mut d.encode_family(&[("result", "failed")])?,
            self.identity.refresh_failed,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Finding;

    fn failed(status: u16, msg: &str) -> Record {
        Record {
            action: Action::Failed,
            status,
            upstream_error_message: Some(msg.into()),
            ..Default::default()
        }
    }

    #[test]
    fn indexes_follow_the_catalogs() {
        for (i, c) in Code::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{c}");
        }
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i, "{a}");
        }
        for (i, k) in UpstreamError::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i, "{}", k.as_str());
        }
        use crate::inspect::Verdict;
        for (i, v) in [Verdict::Valid, Verdict::Invalid, Verdict::Unverified]
            .iter()
            .enumerate()
        {
            assert_eq!(VERDICTS[i], v.as_str());
            assert_eq!(verdict_index(v.as_str()), i);
        }
    }

    #[test]
    fn upstream_failures_are_named_by_what_the_record_says() {
        for (status, msg, want) in [
            (504, "sigtap: the upstream 127.0.0.1:9 did not answer within 60s (--upstream-timeout)", "timeout"),
            (502, "sigtap: cannot connect to the upstream (Connection refused (os error 111))", "connect"),
            (502, "sigtap: the TLS handshake with the upstream failed: x", "tls"),
            (502, "sigtap: upstream TLS certificate verification failed: the certificate is expired", "tls"),
            (502, "sigtap: the upstream connection failed (it closed before a whole answer head arrived)", "closed"),
            (502, "sigtap: the upstream's answer is malformed (no status)", "malformed"),
            (502, "sigtap: the upstream's 500 error body stopped before its end (within --upstream-timeout, 60s)", "error_body"),
            (502, "sigtap: the upstream connection failed (Connection reset by peer)", "other"),
        ] {
            assert_eq!(
                UpstreamError::of(&failed(status, msg)).map(UpstreamError::as_str),
                Some(want),
                "{msg}"
            );
        }
        // the upstream's own error answers, and sigtap's refusals, are not upstream failures
        let mut own = failed(503, "Slow Down");
        own.action = Action::Forwarded;
        assert_eq!(UpstreamError::of(&own), None);
        assert_eq!(UpstreamError::of(&failed(503, "no usable identity")), None);
        let mut rejected = failed(400, "x");
        rejected.action = Action::Rejected;
        assert_eq!(UpstreamError::of(&rejected), None);
    }

    #[test]
    fn a_record_is_counted_under_its_labels() {
        let m = Arc::new(Metrics::new());
        let r = Record {
            verdict: "invalid".into(),
            action: Action::Rejected,
            status: 403,
            duration_ms: 2.0,
            findings: vec![
                Finding::error(Code::ClockSkew, "skewed")
                    .with_cause(time::cause::CLIENT_CLOCK_BEHIND)
                    .with("client_offset_seconds", -1200),
                Finding::warning(Code::UnsignedHeader, "x"),
                Finding::error(Code::SignatureMismatch, "y").with_cause("a-new-cause"),
            ],
            ..Default::default()
        };
        m.count(&r);
        m.count(&Record {
            verdict: "valid".into(),
            action: Action::Resigned,
            upstream_status: Some(200),
            clock_offset_s: Some(-3),
            client_offset_s: Some(2),
            duration_ms: 0.2,
            ..Default::default()
        });
        let text = m.exposition(Identity {
            expiry: Some(1_800_000_000),
            refreshed: 2,
            refresh_failed: 1,
        });
        for line in [
            "sigtap_requests_total{verdict=\"invalid\",action=\"rejected\"} 1",
            "sigtap_requests_total{verdict=\"valid\",action=\"resigned\"} 1",
            "sigtap_requests_total{verdict=\"valid\",action=\"forwarded\"} 0",
            "sigtap_findings_total{code=\"clock-skew\",cause=\"client-clock-behind\"} 1",
            "sigtap_findings_total{code=\"unsigned-header\",cause=\"\"} 1",
            "sigtap_findings_total{code=\"signature-mismatch\",cause=\"a-new-cause\"} 1",
            "sigtap_request_duration_seconds_bucket{le=\"0.0005\"} 1",
            "sigtap_request_duration_seconds_bucket{le=\"0.0025\"} 2",
            "sigtap_request_duration_seconds_count 2",
            "sigtap_client_clock_offset_seconds_bucket{le=\"1\"} 0",
            "sigtap_client_clock_offset_seconds_bucket{le=\"5\"} 1",
            "sigtap_client_clock_offset_seconds_bucket{le=\"900\"} 1",
            "sigtap_client_clock_offset_seconds_bucket{le=\"1800\"} 2",
            "sigtap_client_clock_offset_seconds_sum 1202.0",
            "sigtap_upstream_responses_total{status=\"200\"} 1",
            "sigtap_upstream_clock_offset_seconds -3",
            "sigtap_upstream_errors_total{kind=\"timeout\"} 0",
            "sigtap_credentials_expiry_timestamp_seconds 1800000000",
            "sigtap_credentials_refresh_total{result=\"ok\"} 2",
            "sigtap_credentials_refresh_total{result=\"failed\"} 1",
            "# TYPE sigtap_request_duration_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        // nothing for what was never seen
        assert!(!text.contains("no-signature"), "{text}");
        assert!(
            !Arc::new(Metrics::new())
                .exposition(Identity::default())
                .contains("sigtap_upstream_clock_offset_seconds"),
            "an upstream offset never learned is not shown as 0"
        );
    }
}
