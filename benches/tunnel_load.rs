//! Load for `benches/tunnel.sh`: HTTPS requests to `https://HOST:PORT`, either directly or
//! through an HTTPS proxy (`CONNECT`, then TLS to the name inside the tunnel), as an unmodified
//! client would send them. Blocking rustls on plain threads, so that the client's own cost is
//! small and the same for every proxy.
//!
//!   tunnel_load handshakes PROXY|direct HOST:PORT CA_PEM SECONDS THREADS PATH
//!       new connection + CONNECT + TLS handshake + one GET per iteration: handshakes per second
//!   tunnel_load latency    PROXY|direct HOST:PORT CA_PEM COUNT PATH
//!       one kept connection, COUNT sequential GETs: p50 / p90 / p99 in microseconds
//!   tunnel_load bulk       PROXY|direct HOST:PORT CA_PEM PATH
//!       one GET of a large object: bytes, seconds, MiB/s
//!
//! Prints one JSON line.
#![allow(clippy::disallowed_methods)]

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn config(ca: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).expect("read the CA file") {
        roots.add(c.expect("a PEM certificate")).expect("a CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

/// A TLS connection to `target` (HOST:PORT), through `proxy` unless it is `direct`.
fn open(proxy: &str, target: &str, cfg: &Arc<rustls::ClientConfig>) -> Tls {
    let tcp = if proxy == "direct" {
        TcpStream::connect(target).expect("connect")
    } else {
        let mut tcp = TcpStream::connect(proxy).expect("connect to the proxy");
        write!(tcp, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
        // the answer head, byte by byte (nothing follows it before our TLS hello)
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(tcp.read(&mut b).unwrap(), 1, "the proxy closed the CONNECT");
            head.push(b[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"),
            "CONNECT answered {}",
            String::from_utf8_lossy(&head)
        );
        tcp
    };
    tcp.set_nodelay(true).unwrap();
    let host = target
        .rsplit_once(':')
        .map_or(target, |(h, _)| h)
        .to_string();
    let name = ServerName::try_from(host).expect("a server name");
    let conn = rustls::ClientConnection::new(cfg.clone(), name).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// Sends one GET and reads its answer (Content-Length framed); the body length.
fn get(r: &mut BufReader<Tls>, host: &str, path: &str, close: bool, sink: &mut [u8]) -> u64 {
    let c = if close { "Connection: close\r\n" } else { "" };
    write!(
        r.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{c}\r\n"
    )
    .unwrap();
    r.get_mut().flush().unwrap();
    let mut len = 0u64;
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "answer {status:?}");
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap();
            }
        }
    }
    let mut left = len;
    let room = sink.len() as u64;
    while left > 0 {
        let n = r.read(&mut sink[..left.min(room) as usize]).unwrap();
        assert!(n > 0, "the body ended early");
        left -= n as u64;
    }
    len
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let usage = "tunnel_load handshakes|latency|bulk PROXY|direct HOST:PORT CA_PEM ...";
    let (mode, proxy, target, ca) = match &args[..] {
        [m, p, t, c, ..] => (m.as_str(), p.clone(), t.clone(), c.clone()),
        _ => panic!("{usage}"),
    };
    let host = target.clone();
    let cfg = config(&ca);
    match mode {
        "handshakes" => {
            let secs: u64 = args[4].parse().unwrap();
            let threads: usize = args[5].parse().unwrap();
            let path = args[6].clone();
            let done = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let mut hs = Vec::new();
            for _ in 0..threads {
                let (done, stop, cfg) = (done.clone(), stop.clone(), cfg.clone());
                let (proxy, target, host, path) =
                    (proxy.clone(), target.clone(), host.clone(), path.clone());
                hs.push(std::thread::spawn(move || {
                    let mut sink = vec![0u8; 64 * 1024];
                    while !stop.load(Ordering::Relaxed) {
                        let mut r = BufReader::new(open(&proxy, &target, &cfg));
                        get(&mut r, &host, &path, true, &mut sink);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }));
            }
            // one second of warm-up (leaf issuance, connection pools), then the count
            std::thread::sleep(Duration::from_secs(1));
            let start_count = done.load(Ordering::Relaxed);
            let t0 = Instant::now();
            std::thread::sleep(Duration::from_secs(secs));
            let n = done.load(Ordering::Relaxed) - start_count;
            let el = t0.elapsed().as_secs_f64();
            stop.store(true, Ordering::Relaxed);
            for h in hs {
                let _ = h.join();
            }
            println!(
                "{{\"mode\":\"handshakes\",\"via\":\"{proxy}\",\"threads\":{threads},\"per_s\":{:.1}}}",
                n as f64 / el
            );
        }
        "latency" => {
            let count: usize = args[4].parse().unwrap();
            let path = args[5].clone();
            let mut sink = vec![0u8; 64 * 1024];
            let mut r = BufReader::new(open(&proxy, &target, &cfg));
            for _ in 0..200 {
                get(&mut r, &host, &path, false, &mut sink);
            }
            let mut us: Vec<f64> = (0..count)
                .map(|_| {
                    let t = Instant::now();
                    get(&mut r, &host, &path, false, &mut sink);
                    t.elapsed().as_secs_f64() * 1e6
                })
                .collect();
            us.sort_by(|a, b| a.total_cmp(b));
            let q = |p: f64| us[((us.len() as f64 * p) as usize).min(us.len() - 1)];
            println!(
                "{{\"mode\":\"latency\",\"via\":\"{proxy}\",\"count\":{count},\"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1}}}",
                q(0.5),
                q(0.9),
                q(0.99)
            );
        }
        "bulk" => {
            let path = args[4].clone();
            let mut sink = vec![0u8; 256 * 1024];
            let mut r = BufReader::with_capacity(256 * 1024, open(&proxy, &target, &cfg));
            let t = Instant::now();
            let n = get(&mut r, &host, &path, true, &mut sink);
            let s = t.elapsed().as_secs_f64();
            println!(
                "{{\"mode\":\"bulk\",\"via\":\"{proxy}\",\"bytes\":{n},\"seconds\":{s:.2},\"mib_per_s\":{:.1}}}",
                n as f64 / s / 1048576.0
            );
        }
        _ => panic!("{usage}"),
    }
}
