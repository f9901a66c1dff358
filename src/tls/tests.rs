//! The CA's files, its leaves in real TLS handshakes, the leaf cache, the user's own pair.

use super::*;
use crate::clock::{Clock, SystemClock};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DAY: i64 = 86_400;

/// A fresh folder under the temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "sigtap-tls-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Real time: the rustls client checks validity against the system clock.
fn now() -> i64 {
    SystemClock.now()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn new_ca(tag: &str) -> (TempDir, Ca) {
    let dir = TempDir::new(tag);
    let ca = Ca::load_or_create(dir.path(), now()).expect("create the CA");
    (dir, ca)
}

fn client_config(trust: CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trust).expect("a CA certificate");
    let mut c = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(c)
}

/// A client trusting only `trust` connects to `server` as `name` over `io`, says hello and
/// reads the answer; the negotiated ALPN protocol, or the client's error.
async fn client_side<S>(
    io: S,
    trust: CertificateDer<'static>,
    name: &str,
) -> Result<Option<Vec<u8>>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let connector = tokio_rustls::TlsConnector::from(client_config(trust));
    let server_name = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
    let mut tls = connector
        .connect(server_name, io)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(b"hello").await.map_err(|e| e.to_string())?;
    let mut answer = [0u8; 5];
    tls.read_exact(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(&answer, b"world");
    Ok(tls.get_ref().1.alpn_protocol().map(|p| p.to_vec()))
}

async fn server_side<S>(io: S, config: Arc<rustls::ServerConfig>) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut tls = tokio_rustls::TlsAcceptor::from(config).accept(io).await?;
    let mut hello = [0u8; 5];
    tls.read_exact(&mut hello).await?;
    assert_eq!(&hello, b"hello");
    tls.write_all(b"world").await?;
    tls.shutdown().await
}

/// A handshake over an in-memory pipe.
async fn handshake_in_memory(
    config: Arc<rustls::ServerConfig>,
    trust: CertificateDer<'static>,
    name: &str,
) -> Result<Option<Vec<u8>>, String> {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(server_side(server, config));
    let result = client_side(client, trust, name).await;
    match &result {
        Ok(_) => server.await.unwrap().expect("server side"),
        Err(_) => server.abort(),
    }
    result
}

/// A handshake over a loopback TCP connection.
async fn handshake_over_tcp(
    config: Arc<rustls::ServerConfig>,
    trust: CertificateDer<'static>,
    name: &str,
) -> Result<Option<Vec<u8>>, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (sock, _) = listener.accept().await?;
        server_side(sock, config).await
    });
    let sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let result = client_side(sock, trust, name).await;
    match &result {
        Ok(_) => server.await.unwrap().expect("server side"),
        Err(_) => server.abort(),
    }
    result
}

#[test]
fn creates_private_files_and_reloads_the_same_ca() {
    let dir = TempDir::new("create");
    let nested = dir.path().join("home").join(".sigtap");
    let ca = Ca::load_or_create(&nested, now()).unwrap();
    assert!(ca.cert_path().is_absolute(), "{:?}", ca.cert_path());
    assert_eq!(ca.cert_path().file_name().unwrap(), CERT_FILE);
    assert_eq!(mode(&nested), 0o700);
    assert_eq!(mode(&nested.join(KEY_FILE)), 0o600);
    let cert_bytes = std::fs::read(nested.join(CERT_FILE)).unwrap();
    let key_bytes = std::fs::read(nested.join(KEY_FILE)).unwrap();
    assert_eq!(ca.cert_pem().as_bytes(), &cert_bytes[..]);
    assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));

    let again = Ca::load_or_create(&nested, now() + 10).unwrap();
    assert_eq!(again.cert_pem(), ca.cert_pem());
    assert_eq!(again.cert_der(), ca.cert_der());
    assert_eq!(std::fs::read(nested.join(CERT_FILE)).unwrap(), cert_bytes);
    assert_eq!(std::fs::read(nested.join(KEY_FILE)).unwrap(), key_bytes);
    // no temp files left behind
    let names: Vec<_> = std::fs::read_dir(&nested)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // a leaf from the reloaded CA verifies under the first one's certificate
    let leaf = again.issue(&["example.com"], now()).unwrap();
    assert_eq!(leaf.chain[1], ca.cert_der());
}

#[test]
fn the_key_is_private_from_its_creation_not_only_after_a_load() {
    // load_or_create tightens a key others can read; the files must be right before that
    let dir = TempDir::new("fresh");
    std::fs::create_dir_all(dir.path()).unwrap();
    let (cert, key) = (dir.path().join(CERT_FILE), dir.path().join(KEY_FILE));
    super::ca::create(dir.path(), &cert, &key, now()).unwrap();
    assert_eq!(mode(&key), 0o600);
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    // a second creation finds the names taken and leaves them
    let before = (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap());
    super::ca::create(dir.path(), &cert, &key, now()).unwrap();
    assert_eq!(
        (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap()),
        before
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn a_key_others_can_read_is_made_private_on_load() {
    let (dir, _ca) = new_ca("tighten");
    let key = dir.path().join(KEY_FILE);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    Ca::load_or_create(dir.path(), now()).unwrap();
    assert_eq!(mode(&key), 0o600);
}

#[test]
fn the_ca_certificate_is_a_ca_for_signing_certificates() {
    let (_dir, ca) = new_ca("shape");
    let der = ca.cert_der();
    let (_, x) = x509_parser::parse_x509_certificate(&der).unwrap();
    let bc = x.basic_constraints().unwrap().expect("basicConstraints");
    assert!(bc.critical && bc.value.ca);
    let ku = x.key_usage().unwrap().expect("keyUsage");
    assert!(ku.value.key_cert_sign());
    let cn = x
        .subject()
        .iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap();
    assert!(cn.starts_with("sigtap local CA ("), "{cn}");
    let o = x.subject().iter_organization().next().unwrap();
    assert_eq!(o.as_str().unwrap(), "sigtap");
    let v = x.validity();
    assert!(v.not_before.timestamp() <= now() - DAY);
    assert!(v.not_after.timestamp() >= now() + 4 * 365 * DAY);
}

#[tokio::test]
async fn a_leaf_for_an_s3_host_completes_a_handshake_trusting_only_the_ca() {
    let (_dir, ca) = new_ca("dns");
    let name = "s3.us-east-1.amazonaws.com";
    let config = server_config(ca.issue(&[name], now()).unwrap()).unwrap();
    let alpn = handshake_in_memory(config, ca.cert_der(), name)
        .await
        .expect("handshake");
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
}

#[tokio::test]
async fn a_leaf_for_an_ip_address_completes_a_handshake_over_loopback() {
    let (_dir, ca) = new_ca("ip");
    let config = server_config(ca.issue(&["127.0.0.1"], now()).unwrap()).unwrap();
    let alpn = handshake_over_tcp(config, ca.cert_der(), "127.0.0.1")
        .await
        .expect("handshake");
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    // both spellings of an IPv6 literal become an IP SAN
    for v6 in ["::1", "[::1]"] {
        let config = server_config(ca.issue(&[v6], now()).unwrap()).unwrap();
        handshake_in_memory(config, ca.cert_der(), "::1")
            .await
            .unwrap_or_else(|e| panic!("{v6}: {e}"));
    }
}

#[tokio::test]
async fn a_client_trusting_another_ca_or_expecting_another_name_refuses_the_leaf() {
    let (_dir, ca) = new_ca("trust");
    let (_dir2, other) = new_ca("trust-other");
    assert_ne!(ca.cert_der(), other.cert_der());
    let name = "bucket.cos.ap-guangzhou.myqcloud.com";
    let config = server_config(ca.issue(&[name], now()).unwrap()).unwrap();
    let e = handshake_in_memory(config.clone(), other.cert_der(), name)
        .await
        .expect_err("an unknown issuer must fail");
    // (both CAs here have the same subject, so webpki reports a bad signature, not an
    // unknown issuer; either way the client refuses)
    assert!(e.contains("invalid peer certificate"), "{e}");
    let e = handshake_in_memory(config, ca.cert_der(), "evil.example.com")
        .await
        .expect_err("a name the leaf does not hold must fail");
    assert!(e.to_lowercase().contains("not valid for name"), "{e}");
}

#[test]
fn a_leaf_starts_before_now_is_short_lived_and_says_what_it_is_for() {
    let (_dir, ca) = new_ca("leaf");
    let t = now();
    let leaf = ca
        .issue(&["bucket.s3.amazonaws.com", "127.0.0.1", "[::1]"], t)
        .unwrap();
    assert_eq!(leaf.chain.len(), 2);
    assert_eq!(leaf.chain[1], ca.cert_der());
    let (_, x) = x509_parser::parse_x509_certificate(&leaf.chain[0]).unwrap();
    let v = x.validity();
    assert!(
        v.not_before.timestamp() <= t - DAY,
        "notBefore {}",
        v.not_before
    );
    assert!(v.not_after.timestamp() <= t + 90 * DAY);
    assert!(v.not_after.timestamp() >= t + 29 * DAY);
    let cn = x.subject().iter_common_name().next().unwrap();
    assert_eq!(cn.as_str().unwrap(), "bucket.s3.amazonaws.com");
    let ca_der = ca.cert_der();
    let (_, ca_x) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    assert_eq!(x.issuer().as_raw(), ca_x.subject().as_raw());
    let sans = &x
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names;
    use x509_parser::extensions::GeneralName;
    assert!(matches!(
        sans[0],
        GeneralName::DNSName("bucket.s3.amazonaws.com")
    ));
    assert!(matches!(sans[1], GeneralName::IPAddress(&[127, 0, 0, 1])));
    assert!(matches!(sans[2], GeneralName::IPAddress(ip) if ip.len() == 16 && ip[15] == 1));
    let eku = x.extended_key_usage().unwrap().unwrap();
    assert!(eku.value.server_auth);
    assert!(!x.is_ca());
    // a fresh key and serial each time
    let again = ca.issue(&["bucket.s3.amazonaws.com"], t).unwrap();
    let (_, y) = x509_parser::parse_x509_certificate(&again.chain[0]).unwrap();
    assert_ne!(x.raw_serial(), y.raw_serial());
    assert_ne!(
        x.tbs_certificate.subject_pki.raw,
        y.tbs_certificate.subject_pki.raw
    );
}

#[test]
fn a_leaf_never_outlives_the_ca() {
    let (_dir, ca) = new_ca("clamp");
    let end = ca.not_after();
    let leaf = ca.issue(&["a.example"], end - 5 * DAY).unwrap();
    let (_, x) = x509_parser::parse_x509_certificate(&leaf.chain[0]).unwrap();
    assert_eq!(x.validity().not_after.timestamp(), end);
    assert!(ca.issue(&["a.example"], end).is_err());
}

#[tokio::test]
async fn a_name_too_long_for_a_cn_is_still_served_by_its_san() {
    let (_dir, ca) = new_ca("long");
    let name = format!(
        "{}.s3.dualstack.ap-southeast-1.amazonaws.com",
        "b".repeat(63)
    );
    assert!(name.len() > 64);
    let leaf = ca.issue(&[&name], now()).unwrap();
    let (_, x) = x509_parser::parse_x509_certificate(&leaf.chain[0]).unwrap();
    assert!(x.subject().iter_common_name().next().is_none());
    let san = x.subject_alternative_name().unwrap().unwrap();
    assert!(san.critical, "an empty subject needs a critical SAN");
    handshake_in_memory(server_config(leaf).unwrap(), ca.cert_der(), &name)
        .await
        .expect("handshake");
}

#[test]
fn names_that_are_not_hosts_are_refused() {
    let (_dir, ca) = new_ca("names");
    assert!(ca.issue(&[], now()).is_err());
    for bad in ["", "a b", "host/path", "caf\u{e9}.example", "x\r\ny"] {
        let e = ca.issue(&[bad], now()).expect_err(bad);
        assert!(e.to_string().contains("not a host name"), "{bad:?}: {e}");
    }
}

#[test]
fn half_a_ca_is_an_error_and_is_left_as_it_was() {
    let (dir, _ca) = new_ca("half");
    let cert = dir.path().join(CERT_FILE);
    let key = dir.path().join(KEY_FILE);
    let cert_bytes = std::fs::read(&cert).unwrap();
    let key_bytes = std::fs::read(&key).unwrap();

    std::fs::remove_file(&cert).unwrap();
    let e = Ca::load_or_create(dir.path(), now())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&*cert.to_string_lossy()) && e.contains(&*key.to_string_lossy()),
        "{e}"
    );
    assert!(!cert.exists(), "it made a certificate: {e}");
    assert_eq!(std::fs::read(&key).unwrap(), key_bytes);

    std::fs::remove_file(&key).unwrap();
    std::fs::write(&cert, &cert_bytes).unwrap();
    let e = Ca::load_or_create(dir.path(), now())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("incomplete") && e.contains(&*key.to_string_lossy()),
        "{e}"
    );
    assert!(!key.exists(), "it made a key: {e}");
    assert_eq!(std::fs::read(&cert).unwrap(), cert_bytes);
}

#[test]
fn a_key_from_another_ca_is_an_error_and_nothing_is_overwritten() {
    let (dir, _ca) = new_ca("mismatch");
    let (dir2, _other) = new_ca("mismatch-other");
    let other_key = std::fs::read(dir2.path().join(KEY_FILE)).unwrap();
    let key = dir.path().join(KEY_FILE);
    std::fs::remove_file(&key).unwrap();
    std::fs::write(&key, &other_key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cert_before = std::fs::read(dir.path().join(CERT_FILE)).unwrap();
    let e = Ca::load_or_create(dir.path(), now())
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not belong"), "{e}");
    assert!(e.contains(&*key.to_string_lossy()), "{e}");
    assert_eq!(std::fs::read(&key).unwrap(), other_key);
    assert_eq!(
        std::fs::read(dir.path().join(CERT_FILE)).unwrap(),
        cert_before
    );
}

#[test]
fn garbage_pem_is_an_error_not_a_panic() {
    let cases: [(&[u8], &[u8]); 5] = [
        (b"not pem at all", b"not pem either"),
        (b"", b""),
        (
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ),
        (b"-----BEGIN CERTIFICATE-----\n!!!!\n", b"\xff\xfe\x00"),
        (
            b"-----BEGIN CERTIFICATE-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END CERTIFICATE-----\n",
            b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n",
        ),
    ];
    for (i, (cert, key)) in cases.iter().enumerate() {
        let dir = TempDir::new("garbage");
        std::fs::create_dir_all(dir.path()).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(dir.path().join(CERT_FILE), cert).unwrap();
        std::fs::write(dir.path().join(KEY_FILE), key).unwrap();
        let e = Ca::load_or_create(dir.path(), now())
            .expect_err("garbage must not load")
            .to_string();
        assert!(e.contains(dir.path().to_str().unwrap()), "case {i}: {e}");
        // and the files are as they were
        assert_eq!(std::fs::read(dir.path().join(CERT_FILE)).unwrap(), *cert);
        assert_eq!(std::fs::read(dir.path().join(KEY_FILE)).unwrap(), *key);

        let e = load_pem_pair(&dir.path().join(CERT_FILE), &dir.path().join(KEY_FILE))
            .expect_err("garbage must not load")
            .to_string();
        assert!(e.contains(dir.path().to_str().unwrap()), "case {i}: {e}");
    }
}

#[test]
fn a_folder_others_may_write_or_a_file_in_its_place_is_refused() {
    let dir = TempDir::new("loose");
    std::fs::create_dir_all(dir.path()).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = Ca::load_or_create(dir.path(), now())
        .unwrap_err()
        .to_string();
    assert!(e.contains("written by other users"), "{e}");
    assert!(!dir.path().join(KEY_FILE).exists());

    // readable by others, and only sigtap's: tightened
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    Ca::load_or_create(dir.path(), now()).unwrap();
    assert_eq!(mode(dir.path()), 0o700);

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let e = Ca::load_or_create(&file, now()).unwrap_err().to_string();
    assert!(e.contains("not a folder") && e.contains("a-file"), "{e}");
}

#[test]
fn a_symlink_in_place_of_the_key_is_refused() {
    let (dir, _ca) = new_ca("symlink");
    let key = dir.path().join(KEY_FILE);
    let moved = dir.path().join("elsewhere.pem");
    std::fs::rename(&key, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &key).unwrap();
    let e = Ca::load_or_create(dir.path(), now())
        .unwrap_err()
        .to_string();
    assert!(e.contains("symbolic link"), "{e}");
}

#[test]
fn processes_racing_to_create_the_ca_end_up_with_one() {
    let dir = TempDir::new("race");
    let t = now();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let d = dir.path().to_path_buf();
            std::thread::spawn(move || {
                Ca::load_or_create(&d, t).map(|ca| ca.cert_pem().to_string())
            })
        })
        .collect();
    let pems: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().unwrap().expect("every racer loads a CA"))
        .collect();
    assert!(pems.iter().all(|p| p == &pems[0]));
    let on_disk = std::fs::read_to_string(dir.path().join(CERT_FILE)).unwrap();
    assert_eq!(on_disk, pems[0]);
    let count = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(count, 2, "temp files left behind");
}

#[test]
fn the_leaf_cache_keeps_one_config_per_host_and_renews_it_before_it_expires() {
    let (_dir, ca) = new_ca("cache");
    let cache = LeafCache::new(Arc::new(ca));
    let t = now();
    let a = cache.get("s3.amazonaws.com", t).unwrap();
    let b = cache.get("S3.amazonaws.com", t + 60).unwrap();
    assert!(Arc::ptr_eq(&a, &b), "same host, same config");
    let c = cache.get("other.example", t).unwrap();
    assert!(!Arc::ptr_eq(&a, &c), "another host, another config");
    assert_eq!(cache.len(), 2);
    // 29.5 days on, less than a day is left: a new leaf
    let d = cache
        .get("s3.amazonaws.com", t + 29 * DAY + DAY / 2)
        .unwrap();
    assert!(!Arc::ptr_eq(&a, &d));
    assert_eq!(cache.len(), 2);
    // a clock that jumped back past the leaf's start: a new leaf
    let e = cache
        .get("s3.amazonaws.com", t + 29 * DAY - 10 * DAY)
        .unwrap();
    assert!(!Arc::ptr_eq(&d, &e));
}

#[test]
fn the_leaf_cache_is_bounded_and_drops_the_oldest_host() {
    let (_dir, ca) = new_ca("bound");
    let cache = LeafCache::with_capacity(Arc::new(ca), 3);
    let t = now();
    let first = cache.get("h0.example", t).unwrap();
    for i in 1..5 {
        cache.get(&format!("h{i}.example"), t).unwrap();
    }
    assert_eq!(cache.len(), 3);
    let again = cache.get("h0.example", t).unwrap();
    assert!(
        !Arc::ptr_eq(&first, &again),
        "h0 was the oldest and went first"
    );
    let h4 = cache.get("h4.example", t).unwrap();
    assert!(Arc::ptr_eq(&h4, &cache.get("h4.example", t).unwrap()));
}

#[test]
fn the_leaf_cache_hands_one_config_to_many_threads() {
    let (_dir, ca) = new_ca("threads");
    let cache = Arc::new(LeafCache::new(Arc::new(ca)));
    let t = now();
    let configs: Vec<_> = (0..4)
        .map(|_| {
            let c = cache.clone();
            std::thread::spawn(move || c.get("shared.example", t).unwrap())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(cache.len(), 1);
    let kept = cache.get("shared.example", t).unwrap();
    assert!(configs.iter().any(|c| Arc::ptr_eq(c, &kept)));
}

/// Runs openssl (making keys the way users do); the test fails when it cannot.
fn openssl(args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("openssl is needed for this test and could not run: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_users_own_pair_loads_in_every_key_format_and_serves() {
    let dir = TempDir::new("pair");
    std::fs::create_dir_all(dir.path()).unwrap();
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    // an end-entity certificate for localhost (openssl's default for -x509 is a CA)
    std::fs::write(
        p("req.cnf"),
        "[req]\ndistinguished_name = dn\nx509_extensions = v3\nprompt = no\n\
         [dn]\nCN = localhost\n\
         [v3]\nbasicConstraints = critical,CA:FALSE\nsubjectAltName = DNS:localhost\n\
         extendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    // SEC1 EC key, PKCS#1 RSA key, PKCS#8 key
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &p("ec.key"),
    ]);
    openssl(&["genrsa", "-traditional", "-out", &p("rsa.key"), "2048"]);
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        &p("ec.key"),
        "-out",
        &p("p8.key"),
    ]);
    for key in ["ec.key", "rsa.key", "p8.key"] {
        let cert = format!("{key}.crt");
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &p(key),
            "-config",
            &p("req.cnf"),
            "-days",
            "2",
            "-out",
            &p(&cert),
        ]);
        let leaf = load_pem_pair(Path::new(&p(&cert)), Path::new(&p(key)))
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(leaf.chain.len(), 1);
        let trust = leaf.chain[0].clone();
        let alpn = handshake_in_memory(server_config(leaf).unwrap(), trust, "localhost")
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    }
    let first_line = std::fs::read_to_string(p("ec.key")).unwrap();
    assert!(first_line.contains("BEGIN EC PRIVATE KEY"), "SEC1 as meant");
    let rsa = std::fs::read_to_string(p("rsa.key")).unwrap();
    assert!(rsa.contains("BEGIN RSA PRIVATE KEY"), "PKCS#1 as meant");

    // the errors name the file
    let e = load_pem_pair(Path::new(&p("ec.key.crt")), Path::new(&p("rsa.key")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not match") && e.contains("rsa.key"), "{e}");
    let e = load_pem_pair(Path::new(&p("missing.crt")), Path::new(&p("ec.key")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("missing.crt") && e.contains("no such file"),
        "{e}"
    );
    let e = load_pem_pair(Path::new(&p("ec.key")), Path::new(&p("ec.key")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no certificate") && e.contains("ec.key"), "{e}");
    let e = load_pem_pair(Path::new(&p("ec.key.crt")), Path::new(&p("ec.key.crt")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no private key") && e.contains("ec.key.crt"),
        "{e}"
    );
}

#[test]
fn open_ca_with_a_folder_uses_it() {
    let dir = TempDir::new("open");
    let ca = open_ca(Some(dir.path()), now()).unwrap();
    assert_eq!(
        ca.cert_path(),
        std::fs::canonicalize(dir.path()).unwrap().join(CERT_FILE)
    );
}

/// Not a timing assertion: prints what issuing a leaf costs, for the record.
#[test]
fn how_long_issuing_a_leaf_takes() {
    let (_dir, ca) = new_ca("timing");
    let clock = SystemClock;
    let n = 50;
    let start = clock.instant();
    for i in 0..n {
        let leaf = ca.issue(&[&format!("h{i}.example")], now()).unwrap();
        server_config(leaf).unwrap();
    }
    let each = start.elapsed() / n;
    println!("issuing a leaf and its server config: {each:?} each ({n} leaves)");
}
