//! The web view in tests: a proxy started with `--ui`, its two stdout lines read back, and a
//! small HTTP client for the view's endpoints.
#![allow(clippy::disallowed_methods)]

use super::real::{sigtap_command, Proc};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct UiProxy {
    pub proc: Proc,
    /// The proxy's HOST:PORT.
    pub addr: String,
    /// The web view's URL as printed (`http://HOST:PORT/`).
    pub url: String,
    /// The web view's HOST:PORT.
    pub ui: String,
    /// The first two stdout lines as printed.
    pub head: Vec<String>,
    /// Later stdout lines (the log, unless --log-file).
    pub lines: Arc<Mutex<Vec<String>>>,
}

/// `sigtap ARGS` (a proxy with `--ui`): reads the address line and the `ui:` line.
pub fn start_ui_proxy(args: &[&str]) -> UiProxy {
    let mut child = sigtap_command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sigtap");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut head = Vec::new();
    for _ in 0..2 {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        head.push(l.trim_end().to_string());
    }
    let parse = |l: &str, key: &str| -> String {
        match serde_json::from_str::<serde_json::Value>(l) {
            Ok(v) => v[key].as_str().unwrap_or_default().to_string(),
            Err(_) => l.strip_prefix("ui: ").unwrap_or(l).to_string(),
        }
    };
    let addr = parse(&head[0], "listening");
    let url = parse(&head[1], "ui");
    assert!(
        url.starts_with("http://") && url.ends_with('/'),
        "the second stdout line is not the web view's URL: {head:?}"
    );
    let ui = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l2 = lines.clone();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            l2.lock().unwrap().push(line);
        }
    });
    UiProxy {
        proc: Proc(child),
        addr,
        url,
        ui,
        head,
        lines,
    }
}

/// One answer: status, head (lower-cased names), body.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// `METHOD path` to `addr` with `Host: host` and `headers`, the connection closed after it.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the web view");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // the data answers are small and not chunked, but the stream's pieces would be
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Answer {
        status,
        head: head.to_ascii_lowercase(),
        body,
    }
}

/// `GET path` from the web view with its own Host.
pub fn get(ui: &str, path: &str) -> Answer {
    request(ui, "GET", path, ui, &[])
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Reads the live stream (`/api/events`) until `until` holds for what arrived, or `limit`.
pub fn read_events(
    ui: &str,
    limit: Duration,
    mut until: impl FnMut(&str) -> bool,
    after_connect: impl FnOnce(),
) -> String {
    let mut s = std::net::TcpStream::connect(ui).unwrap();
    s.write_all(
        format!("GET /api/events HTTP/1.1\r\nHost: {ui}\r\nAccept: text/event-stream\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut got = Vec::new();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 8192];
    // the head and the first comment arrive before anything is sent through the proxy
    while !String::from_utf8_lossy(&got).contains(": sigtap web view") && start.elapsed() < limit {
        if let Ok(n) = s.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
    }
    after_connect();
    while start.elapsed() < limit && !until(&String::from_utf8_lossy(&got)) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}
