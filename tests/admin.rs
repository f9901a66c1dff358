//! `--admin`: a real proxy in front of s3s-fs, driven by real boto3 (valid requests, a wrong
//! secret, a skewed client clock, an expired presigned URL) and raw requests (a head that does
//! not parse, a refused CONNECT); `/metrics` parsed strictly and checked against the requests
//! sent and the log's records. Also: an upstream that is down, `/healthz` going to 503 when a
//! temporary identity can no longer be used, the `Host` refusal, and admin requests not counted.
#![allow(clippy::disallowed_methods)]

mod common;
use common::real::{
    boto3, free_port, records, sign_v4, start_s3s, start_sigtap, start_sigtap_env, tools, unix_now,
    Proc, Sigtap, AK, SK,
};
use common::ui::{get, request};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

/// One sample: the series (name and sorted labels) and its value.
type Samples = BTreeMap<(String, Vec<(String, String)>), f64>;

/// Parses the Prometheus text format strictly: every line a HELP, a TYPE or a sample of the
/// family last typed; names and label names well formed; label values quoted and escaped; no
/// series twice; histogram buckets cumulative and ending at `+Inf` = `_count`.
fn parse(text: &str) -> Samples {
    let name_re = regex::Regex::new("^[a-zA-Z_:][a-zA-Z0-9_:]*$").unwrap();
    let label_re = regex::Regex::new("^[a-zA-Z_][a-zA-Z0-9_]*$").unwrap();
    let mut out = Samples::new();
    let mut family: Option<(String, String)> = None;
    let mut helped = std::collections::HashSet::new();
    let mut typed = std::collections::HashSet::new();
    assert!(
        text.ends_with('\n'),
        "the exposition ends with a line break"
    );
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').expect("HELP name text");
            assert!(name_re.is_match(name), "{line}");
            assert!(helped.insert(name.to_string()), "HELP twice: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name type");
            assert!(name_re.is_match(name), "{line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(typed.insert(name.to_string()), "TYPE twice: {line}");
            family = Some((name.to_string(), kind.to_string()));
            continue;
        }
        assert!(!line.starts_with('#'), "an unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value of {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), Vec::new()),
            Some((n, rest)) => {
                let body = rest.strip_suffix('}').expect("labels close");
                (n.to_string(), parse_labels(body, &label_re, line))
            }
        };
        assert!(name_re.is_match(&name), "{line}");
        let (fam, kind) = family.clone().expect("a sample after its TYPE");
        let ok = match kind.as_str() {
            "counter" => name == fam && fam.ends_with("_total"),
            "gauge" => name == fam,
            _ => ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| name == format!("{fam}{s}")),
        };
        assert!(ok, "{name} is not a sample of {kind} {fam}: {line}");
        let mut sorted = labels.clone();
        sorted.sort();
        assert!(
            out.insert((name, sorted), value).is_none(),
            "a series twice: {line}"
        );
    }
    // histograms: cumulative buckets, +Inf equals the count
    for fam in typed.iter() {
        let Some(inf) = get_value(&out, &format!("{fam}_bucket"), &[("le", "+Inf")]) else {
            continue;
        };
        let mut buckets: Vec<(f64, f64)> = out
            .iter()
            .filter(|((n, _), _)| *n == format!("{fam}_bucket"))
            .map(|((_, l), v)| {
                let le = &l.iter().find(|(k, _)| k == "le").unwrap().1;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                (le, *v)
            })
            .collect();
        buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{fam}: buckets not cumulative {buckets:?}"
        );
        assert_eq!(
            Some(inf),
            get_value(&out, &format!("{fam}_count"), &[]),
            "{fam}"
        );
    }
    out
}

fn parse_labels(body: &str, label_re: &regex::Regex, line: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (k, after) = rest.split_once("=\"").expect("label=\"value\"");
        assert!(label_re.is_match(k), "label name {k:?} in {line}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => panic!("bad escape {other:?} in {line}"),
                },
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {line}"),
            }
        };
        labels.push((k.to_string(), value));
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    labels
}

fn get_value(s: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut l: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.sort();
    s.get(&(name.to_string(), l)).copied()
}

/// The sum of a family's samples whose labels include `labels`.
fn sum(s: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.iter()
        .filter(|((n, l), _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|(_, v)| v)
        .sum()
}

/// The admin endpoints' HOST:PORT, from the `{"admin": URL}` line after the address line.
fn admin_addr(p: &Sigtap) -> String {
    let t = Instant::now();
    loop {
        if let Some(url) = p.lines.lock().unwrap().iter().find_map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()?
                .get("admin")?
                .as_str()
                .map(str::to_string)
        }) {
            assert!(url.starts_with("http://127.0.0.1:") && url.ends_with('/'));
            return url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string();
        }
        assert!(t.elapsed() < Duration::from_secs(10), "no admin line");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn scrape(admin: &str) -> Samples {
    let a = get(admin, "/metrics");
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.head.contains("content-type: text/plain; version=0.0.4"),
        "{}",
        a.head
    );
    parse(&a.body)
}

/// Sends raw bytes to `addr` and returns the answer's status.
fn raw(addr: &str, bytes: &[u8]) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn metrics_count_every_request_the_proxy_answers() {
    let Some(t) = tools() else { return };
    let (_s3s, port, _dir) = start_s3s(&t);
    let proxy = start_sigtap(
        &format!("http://127.0.0.1:{port}"),
        &[
            "--access-key",
            AK,
            "--secret-key",
            SK,
            "--admin",
            "127.0.0.1:0",
        ],
    );
    let admin = admin_addr(&proxy);
    let endpoint = format!("http://{}", proxy.addr);

    // nothing yet: every verdict × action series is there, at zero
    let empty = scrape(&admin);
    assert_eq!(sum(&empty, "sigtap_requests_total", &[]), 0.0);
    assert_eq!(
        empty
            .keys()
            .filter(|(n, _)| n == "sigtap_requests_total")
            .count(),
        12
    );
    assert_eq!(get(&admin, "/healthz").status, 200);

    // valid requests: a real boto3 round trip to s3s-fs
    let (ok, out) = boto3(&t, "roundtrip", &endpoint, "adm-bucket");
    assert!(ok, "{out}");
    // a wrong secret: the mismatch is answered by sigtap itself
    let (ok, out) = boto3(&t, "wrongsecret", &endpoint, "adm-bucket");
    assert!(ok, "{out}");
    // a client clock 20 minutes slow: the service would refuse it, sigtap re-signs it
    let (ok, out) = boto3(&t, "skew", &endpoint, "adm-bucket");
    assert!(ok, "{out}");
    // a presigned URL that expired a minute ago
    let req = sigtap::wire::Request::parse(
        format!(
            "GET /adm-bucket/empty.bin HTTP/1.1\r\nHost: {}\r\n\r\n",
            proxy.addr
        )
        .as_bytes(),
    )
    .unwrap();
    let mut late = sign_v4(&req, unix_now() - 120, None, Some(60))
        .plan
        .apply(&req);
    late.set_header("Connection", "close");
    // (sigtap re-signs it under --resign auto: the finding is what counts here)
    assert_eq!(raw(&proxy.addr, &late.to_bytes()), 200);
    // a head that does not parse, and a CONNECT a reverse proxy refuses
    assert_eq!(raw(&proxy.addr, b"GET /a b c d\r\n\r\n"), 400);
    assert_eq!(
        raw(
            &proxy.addr,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        ),
        405
    );

    let recs = records(&proxy);
    let m = scrape(&admin);
    // admin requests are not counted: scraping again and asking for health change nothing
    assert_eq!(get(&admin, "/healthz").status, 200);
    assert_eq!(request(&admin, "HEAD", "/metrics", &admin, &[]).status, 200);
    let again = scrape(&admin);
    assert_eq!(
        sum(&m, "sigtap_requests_total", &[]),
        sum(&again, "sigtap_requests_total", &[])
    );

    // every record counted once, under its verdict and action
    let n = recs.len() as f64;
    assert!(n >= 25.0, "{} records", recs.len());
    assert_eq!(sum(&m, "sigtap_requests_total", &[]), n);
    assert_eq!(
        get_value(&m, "sigtap_request_duration_seconds_count", &[]),
        Some(n)
    );
    let mut by = BTreeMap::<(String, String), f64>::new();
    let mut findings = BTreeMap::<(String, String), f64>::new();
    let mut statuses = BTreeMap::<String, f64>::new();
    let mut offsets = 0.0;
    let mut duration = 0.0;
    for r in &recs {
        let verdict = r["client"]["verdict"].as_str().unwrap().to_string();
        let action = r["action"].as_str().unwrap().to_string();
        *by.entry((verdict, action)).or_default() += 1.0;
        for f in r["client"]["findings"].as_array().unwrap() {
            let code = f["code"].as_str().unwrap().to_string();
            let cause = f["cause"].as_str().unwrap_or("").to_string();
            *findings.entry((code, cause)).or_default() += 1.0;
        }
        if let Some(s) = r["upstream"]["status"].as_u64() {
            *statuses.entry(s.to_string()).or_default() += 1.0;
        }
        duration += r["duration_ms"].as_f64().unwrap() / 1000.0;
        // the clock findings carry the offset: the skewed requests, and the expired URL that
        // the same access key's skewed requests explain
        let clock = r["client"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["cause"] == "client-clock-behind");
        if clock {
            offsets += 1.0;
        }
    }
    for ((v, a), c) in &by {
        assert_eq!(
            get_value(
                &m,
                "sigtap_requests_total",
                &[("verdict", v), ("action", a)]
            ),
            Some(*c),
            "{v}/{a}"
        );
    }
    for ((code, cause), c) in &findings {
        assert_eq!(
            get_value(
                &m,
                "sigtap_findings_total",
                &[("code", code), ("cause", cause)]
            ),
            Some(*c),
            "{code}/{cause}"
        );
    }
    assert_eq!(
        sum(&m, "sigtap_findings_total", &[]),
        findings.values().sum::<f64>()
    );
    for (s, c) in &statuses {
        assert_eq!(
            get_value(&m, "sigtap_upstream_responses_total", &[("status", s)]),
            Some(*c),
            "status {s}"
        );
    }
    assert_eq!(
        sum(&m, "sigtap_upstream_responses_total", &[]),
        statuses.values().sum::<f64>()
    );
    let sum_s = get_value(&m, "sigtap_request_duration_seconds_sum", &[]).unwrap();
    assert!(
        (sum_s - duration).abs() < 0.001 * n + 1e-6,
        "{sum_s} vs {duration}"
    );
    // what the mix must show, whatever boto3 sent besides
    let seen = |code: &str| findings.keys().any(|(c, _)| c == code);
    assert!(seen("signature-mismatch"), "{findings:?}");
    assert!(seen("expired"), "{findings:?}");
    assert!(
        get_value(
            &m,
            "sigtap_findings_total",
            &[("code", "clock-skew"), ("cause", "client-clock-behind")]
        )
        .unwrap()
            >= 2.0
    );
    assert!(offsets >= 3.0);
    // every request whose client's clock is known is observed once; the skewed client's are
    // 1200 s off, the others agree with sigtap's clock
    let off = |le: &str| {
        get_value(
            &m,
            "sigtap_client_clock_offset_seconds_bucket",
            &[("le", le)],
        )
        .unwrap()
    };
    let observed = get_value(&m, "sigtap_client_clock_offset_seconds_count", &[]).unwrap();
    // header-signed requests say when they were signed; a presigned URL only when it was made,
    // unless the same key's requests showed its clock off (the expired one)
    let timed = recs
        .iter()
        .filter(|r| {
            r["client"]["carrier"] == "header"
                || r["client"]["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["cause"] == "client-clock-behind")
        })
        .count() as f64;
    assert_eq!(observed, timed);
    assert_eq!(off("1800") - off("900"), offsets);
    assert_eq!(off("+Inf"), off("1800"));
    assert_eq!(off("5"), observed - offsets);
    let off_sum = get_value(&m, "sigtap_client_clock_offset_seconds_sum", &[]).unwrap();
    assert!(
        off_sum >= 1195.0 * offsets && off_sum <= 1205.0 * offsets + 2.0 * observed,
        "{off_sum} over {offsets} skewed of {observed}"
    );
    assert!(sum(&m, "sigtap_requests_total", &[("verdict", "valid")]) >= 20.0);
    // the head that did not parse and the CONNECT: answered by sigtap, no signature
    assert!(
        get_value(
            &m,
            "sigtap_requests_total",
            &[("verdict", "unverified"), ("action", "rejected")]
        )
        .unwrap()
            >= 2.0
    );
    assert_eq!(sum(&m, "sigtap_upstream_errors_total", &[]), 0.0);
    // s3s-fs's clock is this machine's
    assert_eq!(
        get_value(&m, "sigtap_upstream_clock_offset_seconds", &[]).map(|o| o.abs() <= 2.0),
        Some(true)
    );
    // keys from flags: nothing expires, nothing refreshes
    assert_eq!(
        get_value(&m, "sigtap_credentials_expiry_timestamp_seconds", &[]),
        None
    );
    assert_eq!(sum(&m, "sigtap_credentials_refresh_total", &[]), 0.0);
    // the admin server answers its own address only, and GET/HEAD only
    let refused = request(&admin, "GET", "/metrics", "evil.example", &[]);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(request(&admin, "POST", "/metrics", &admin, &[]).status, 405);
    assert_eq!(get(&admin, "/nothing").status, 404);
    let after = scrape(&admin);
    assert_eq!(
        sum(&after, "sigtap_requests_total", &[]),
        n,
        "admin requests are not counted"
    );
}

#[test]
fn an_upstream_that_is_down_is_a_connect_error() {
    // a port nothing listens on (bound, then closed)
    let down = format!("http://127.0.0.1:{}", free_port());
    let proxy = start_sigtap(&down, &["--admin", "0"]);
    let admin = admin_addr(&proxy);
    for _ in 0..3 {
        let status = raw(
            &proxy.addr,
            format!(
                "GET /b/k HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                proxy.addr
            )
            .as_bytes(),
        );
        assert_eq!(status, 502);
    }
    let recs = records(&proxy);
    assert_eq!(recs.len(), 3);
    let m = scrape(&admin);
    assert_eq!(
        get_value(&m, "sigtap_upstream_errors_total", &[("kind", "connect")]),
        Some(3.0)
    );
    assert_eq!(sum(&m, "sigtap_upstream_errors_total", &[]), 3.0);
    assert_eq!(
        get_value(
            &m,
            "sigtap_requests_total",
            &[("verdict", "unverified"), ("action", "failed")]
        ),
        Some(3.0)
    );
    assert_eq!(sum(&m, "sigtap_upstream_responses_total", &[]), 0.0);
    // --resign auto: the key store is enough to be healthy, whatever the upstream does
    assert_eq!(get(&admin, "/healthz").status, 200);
}

/// A container credential endpoint (a tiny Python server on 127.0.0.1) that hands out one key
/// whose expiry is fixed when it starts, `expires_in` seconds later.
fn container_endpoint(expires_in: i64) -> (Proc, String) {
    let script = r#"
import http.server, json, sys, time, datetime
exp = datetime.datetime.fromtimestamp(time.time() + int(sys.argv[1]), datetime.timezone.utc)
body = json.dumps({"AccessKeyId": "ASIAADMINTEST0000001", "SecretAccessKey": "adminTestSecret0000000000000000000000001",
                   "Token": "admin-test-token", "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ")}).encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, &expires_in.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3");
    let mut port = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    (
        Proc(child),
        format!("http://127.0.0.1:{}/creds", port.trim()),
    )
}

#[test]
fn healthz_goes_to_503_when_no_usable_identity_is_left() {
    // the key expires in 75 s: it is not used in its last 60, so usable for about 15 s
    let (_endpoint, url) = container_endpoint(75);
    let down = format!("http://127.0.0.1:{}", free_port());
    let proxy = start_sigtap_env(
        &[
            "proxy",
            "--upstream",
            &down,
            "--port",
            "0",
            "--log-format",
            "json",
            "--resign",
            "always",
            "--upstream-credentials",
            "container",
            "--admin",
            "127.0.0.1:0",
        ],
        &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url)],
    );
    let admin = admin_addr(&proxy);
    let first = get(&admin, "/healthz");
    let m = scrape(&admin);
    let expiry = get_value(&m, "sigtap_credentials_expiry_timestamp_seconds", &[])
        .expect("a temporary identity has an expiry");
    assert!((expiry - (unix_now() + 75) as f64).abs() <= 3.0, "{expiry}");
    // healthy while the key is usable
    assert_eq!(first.status, 200, "{}", first.body);
    // then the key enters its last minute, and a refresh brings the same one back
    let mut last = first;
    for _ in 0..160 {
        last = get(&admin, "/healthz");
        if last.status == 503 {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(last.status, 503, "{}", last.body);
    assert!(
        last.body.contains("ASIAADMINTEST0000001") && last.body.contains("last 60s"),
        "{}",
        last.body
    );
    let m = scrape(&admin);
    assert!(sum(&m, "sigtap_credentials_refresh_total", &[("result", "ok")]) >= 1.0);
    assert_eq!(
        get_value(
            &m,
            "sigtap_credentials_refresh_total",
            &[("result", "failed")]
        ),
        Some(0.0)
    );
}

#[test]
fn the_admin_line_follows_the_address_line() {
    let dir = common::real::tempdir::Dir::new("admin-log");
    let log = dir.0.join("log.jsonl");
    let down = format!("http://127.0.0.1:{}", free_port());
    for (format, file) in [("human", false), ("json", false), ("human", true)] {
        let mut args = vec![
            "proxy",
            "--upstream",
            &down,
            "--port",
            "0",
            "--log-format",
            format,
            "--admin",
            "127.0.0.1:0",
        ];
        let log_s = log.display().to_string();
        if file {
            args.extend(["--log-file", &log_s]);
        }
        let mut child = common::real::sigtap_command(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        for _ in 0..2 {
            let mut l = String::new();
            out.read_line(&mut l).unwrap();
            lines.push(l.trim_end().to_string());
        }
        let proc = Proc(child);
        let url = if format == "json" {
            let v: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
            assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
            v["admin"].as_str().unwrap().to_string()
        } else {
            assert!(
                lines[0].parse::<std::net::SocketAddr>().is_ok(),
                "{lines:?}"
            );
            lines[1].strip_prefix("admin: ").unwrap().to_string()
        };
        assert!(url.starts_with("http://127.0.0.1:") && url.ends_with('/'));
        let addr = url.trim_start_matches("http://").trim_end_matches('/');
        assert_eq!(get(addr, "/healthz").status, 200);
        if file {
            // stdout holds only the two lines: a request's record goes to the file
            let proxy = lines[0].clone();
            raw(
                &proxy,
                format!("GET /x HTTP/1.1\r\nHost: {proxy}\r\nConnection: close\r\n\r\n").as_bytes(),
            );
            std::thread::sleep(Duration::from_millis(300));
            drop(proc);
            let mut rest = String::new();
            let _ = out.read_to_string(&mut rest);
            assert!(rest.is_empty(), "stdout beyond the two lines: {rest:?}");
            let logged = std::fs::read_to_string(&log).unwrap();
            assert!(
                logged.contains("GET 127.0.0.1:") && logged.contains("/x"),
                "{logged:?}"
            );
        }
    }
}
