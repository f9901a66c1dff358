//! Real components for the integration tests: the pinned tools under target/tools (s3s-fs,
//! the Python and node clients), processes stopped by PID when dropped, sigtap started on
//! 127.0.0.1:0 with its address line read back.
// Tests time real servers and read the wall clock directly (clippy.toml bans it in the crate).
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const AK: &str = "AKIDPROXYTEST0000001";
pub const SK: &str = "pRoXyTeStSeCrEt/K7MDENG+bPxRfiCYEXAMPLE";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Tools {
    pub s3s: PathBuf,
    pub python: PathBuf,
    pub node_modules: PathBuf,
}

pub fn tools() -> Option<Tools> {
    let t = Tools {
        s3s: root().join("target/tools/s3s-fs/bin/s3s-fs"),
        python: root().join("target/tools/clients/bin/python"),
        node_modules: root().join("target/tools/node/node_modules"),
    };
    if t.s3s.is_file() && t.python.is_file() && t.node_modules.is_dir() {
        return Some(t);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if std::env::var("SIGTAP_SKIP_TOOLS").is_ok_and(|v| v == "1") && !ci {
        eprintln!("SKIPPED: s3s-fs or the client venv is missing and SIGTAP_SKIP_TOOLS=1; the proxy tests did not run");
        return None;
    }
    panic!("the proxy tests need s3s-fs, the Python clients and the node clients under target/tools: run scripts/tools.sh (or scripts/test.sh)");
}

/// A child process killed (by PID) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_port(port: u16) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "port {port} never opened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn start_s3s(t: &Tools) -> (Proc, u16, tempdir::Dir) {
    let dir = tempdir::Dir::new("s3s");
    let port = free_port();
    let child = Command::new(&t.s3s)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            AK,
            "--secret-key",
            SK,
        ])
        .arg(&dir.0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start s3s-fs");
    let p = Proc(child);
    wait_port(port);
    (p, port, dir)
}

pub mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let p = std::env::temp_dir().join(format!(
                "sigtap-{tag}-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub struct Sigtap {
    pub proc: Proc,
    pub addr: String,
    pub lines: Arc<Mutex<Vec<String>>>,
}

pub fn start_sigtap(upstream: &str, extra: &[&str]) -> Sigtap {
    let mut args = vec![
        "proxy",
        "--upstream",
        upstream,
        "--port",
        "0",
        "--log-format",
        "json",
    ];
    args.extend_from_slice(extra);
    start_sigtap_args(&args)
}

/// A JSON-logging proxy to `upstream` (a URL) that holds the test key, with `extra` options.
pub fn start_keyed_proxy(upstream: &str, extra: &[&str]) -> Sigtap {
    let mut args = vec!["--access-key", AK, "--secret-key", SK];
    args.extend_from_slice(extra);
    start_sigtap(upstream, &args)
}

/// sigtap with no ambient keys: no AWS variables, AWS files that do not exist.
pub fn sigtap_command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sigtap"));
    c.args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/sigtap")
        .env("AWS_CONFIG_FILE", "/nonexistent/sigtap");
    c
}

pub fn start_sigtap_args(args: &[&str]) -> Sigtap {
    start_sigtap_env(args, &[])
}

/// `start_sigtap_args` with extra environment variables (e.g. `SIGTAP_LEAN=0`).
pub fn start_sigtap_env(args: &[&str], env: &[(&str, &str)]) -> Sigtap {
    let mut cmd = sigtap_command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sigtap proxy");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let v: serde_json::Value = serde_json::from_str(first.trim())
        .unwrap_or_else(|e| panic!("address line {first:?}: {e}"));
    let addr = v["listening"].as_str().unwrap().to_string();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l2 = lines.clone();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            l2.lock().unwrap().push(line);
        }
    });
    Sigtap {
        proc: Proc(child),
        addr,
        lines,
    }
}

/// The JSON log records so far: read once no new line has arrived for 150 ms (the proxy
/// flushes its log within 50-100 ms under load, and may log a request just after answering it).
pub fn records(s: &Sigtap) -> Vec<serde_json::Value> {
    let mut seen = usize::MAX;
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(150));
        let now = s.lines.lock().unwrap().len();
        if now == seen {
            break;
        }
        seen = now;
    }
    s.lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("id").is_some())
        .collect()
}

pub fn boto3(t: &Tools, scenario: &str, endpoint: &str, bucket: &str) -> (bool, String) {
    boto3_via(t, scenario, endpoint, bucket, None)
}

pub fn boto3_via(
    t: &Tools,
    scenario: &str,
    endpoint: &str,
    bucket: &str,
    http_proxy: Option<&str>,
) -> (bool, String) {
    match http_proxy {
        Some(p) => boto3_env(t, scenario, endpoint, bucket, &[("SIGTAP_HTTP_PROXY", p)]),
        None => boto3_env(t, scenario, endpoint, bucket, &[]),
    }
}

pub const SID: &str = "AKIDsigtapProxyCosTest000000000000001";
pub const SKEY: &str = "sigtapProxyCosTestSecretKey00000001";

/// Starts `tests/clients/cos_upstream.py` (optionally with TLS) and returns it with its port.
pub fn start_cos_upstream(
    t: &Tools,
    tls: Option<(&std::path::Path, &std::path::Path)>,
) -> (Proc, u16) {
    let port = free_port();
    let mut cmd = Command::new(&t.python);
    cmd.arg(root().join("tests/clients/cos_upstream.py"))
        .args([&port.to_string(), SID, SKEY]);
    if let Some((cert, key)) = tls {
        cmd.arg(cert).arg(key);
    }
    let mut up = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the COS test upstream");
    let mut ready = String::new();
    BufReader::new(up.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "listening");
    (Proc(up), port)
}

pub fn cos_client(t: &Tools, scenario: &str, proxy: &Sigtap) -> (bool, String) {
    cos_client_at(t, scenario, &proxy.addr, &[])
}

/// cos-python-sdk-v5 (`tests/clients/cos_client.py`) against `addr`, with extra environment.
pub fn cos_client_at(
    t: &Tools,
    scenario: &str,
    addr: &str,
    env: &[(&str, &str)],
) -> (bool, String) {
    let port = addr.rsplit(':').next().unwrap().to_string();
    let out = Command::new(&t.python)
        .arg(root().join("tests/clients/cos_client.py"))
        .args([scenario, &port, SID, SKEY])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    outcome(&out)
}

/// boto3 (`tests/clients/boto3_proxy.py`) against `endpoint`, with extra environment.
pub fn boto3_env(
    t: &Tools,
    scenario: &str,
    endpoint: &str,
    bucket: &str,
    env: &[(&str, &str)],
) -> (bool, String) {
    let out = Command::new(&t.python)
        .arg(root().join("tests/clients/boto3_proxy.py"))
        .args([scenario, endpoint, AK, SK, bucket])
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/sigtap")
        .env("AWS_CONFIG_FILE", "/nonexistent/sigtap")
        .envs(env.iter().copied())
        .output()
        .expect("run python");
    outcome(&out)
}

/// Success and the combined output of a finished command.
pub fn outcome(out: &std::process::Output) -> (bool, String) {
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Starts sigtap with a plain address line (`sigtap mock`), stderr to `stderr_file` when given.
pub fn start_plain(args: &[&str], stderr_file: Option<&std::path::Path>) -> (Proc, String) {
    let mut child = sigtap_command(args)
        .stdout(Stdio::piped())
        .stderr(match stderr_file {
            Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
            None => Stdio::null(),
        })
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        !line.trim().is_empty(),
        "sigtap {args:?} printed no address"
    );
    (Proc(child), line.trim().to_string())
}

/// `sigtap mock` on 127.0.0.1:0 with the test key and `extra` options; its address.
pub fn start_mock(extra: &[&str]) -> (Proc, String) {
    let mut args = vec![
        "mock",
        "--port",
        "0",
        "--access-key",
        AK,
        "--secret-key",
        SK,
    ];
    args.extend_from_slice(extra);
    start_plain(&args, None)
}

/// Seconds since the epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// SigV4 with the test key (us-east-1, S3 rules) at `now`: header auth over `payload` (the
/// body's hash when `None`), or a presigned URL valid `presign` seconds.
pub fn sign_v4(
    req: &sigtap::wire::Request,
    now: i64,
    payload: Option<&str>,
    presign: Option<i64>,
) -> sigtap::sig::v4::V4Signed {
    use sigtap::sig::v4::{self, Rules, SigningKeyCache};
    v4::sign(
        req,
        &v4::V4SignParams {
            access_key: AK,
            secret: SK,
            session_token: None,
            region: "us-east-1",
            service: "s3",
            now,
            rules: Rules::S3,
            signed_headers: None,
            presign_expires: presign,
            payload_hash: payload.map(str::to_string),
        },
        &SigningKeyCache::new(),
    )
}

/// Runs coscmd (the client venv's) with its own config file and home, through `proxy_addr` as
/// its http_proxy.
pub fn coscmd(work: &std::path::Path, proxy_addr: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(root().join("target/tools/clients/bin/coscmd"))
        .arg("-c")
        .arg(work.join("cos.conf"))
        .args(args)
        .env("http_proxy", format!("http://{proxy_addr}"))
        .env("HTTP_PROXY", format!("http://{proxy_addr}"))
        .env_remove("no_proxy")
        .env_remove("NO_PROXY")
        .env("HOME", work)
        .output()
        .expect("run coscmd");
    outcome(&out)
}

/// Reads one request head (up to its empty line) from a raw test server's connection; `None`
/// when the peer closed first.
pub fn read_head_raw(r: &mut impl std::io::BufRead) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) => head.push_str(&line),
        }
        if line == "\r\n" {
            return Some(head);
        }
    }
}

/// The `Content-Length` a raw head announces (0 without one).
pub fn content_length_of(head: &str) -> usize {
    head.to_ascii_lowercase()
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A test CA and one upstream certificate for `names` (DNS names and 127.0.0.1), by openssl.
pub struct UpstreamCert {
    pub dir: tempdir::Dir,
}

impl UpstreamCert {
    pub fn new(names: &[&str]) -> UpstreamCert {
        let dir = tempdir::Dir::new("upcert");
        let san: Vec<String> = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(_) => format!("IP:{n}"),
                Err(_) => format!("DNS:{n}"),
            })
            .collect();
        let script = format!(
            "set -e; cd '{d}'; \
             openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=sigtap test upstream CA' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null; \
             openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key -out srv.csr -subj '/CN={cn}' 2>/dev/null; \
             printf 'subjectAltName={san}\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf; \
             openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext.cnf 2>/dev/null",
            d = dir.0.display(),
            cn = names[0],
            san = san.join(","),
        );
        let ok = Command::new("sh")
            .args(["-c", &script])
            .status()
            .expect("run openssl");
        assert!(
            ok.success(),
            "openssl could not make the test certificates (is openssl installed?)"
        );
        UpstreamCert { dir }
    }
    pub fn path(&self, f: &str) -> String {
        self.dir.0.join(f).display().to_string()
    }
}
