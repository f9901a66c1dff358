//! The local CA: its two files, made once and checked on every load, and the leaves it issues.
//!
//! Files and folder (the rules [`Ca::load_or_create`] keeps):
//! - the folder is created with mode 0700. An existing folder that other users may write to
//!   is refused (they could replace the CA); one they may only read is tightened to 0700 when
//!   it holds nothing but the CA's files, and otherwise used as it is (the key file is 0600).
//! - `ca-key.pem` is written with mode 0600 and `ca.pem` with 0644, each first to a new temp
//!   file (`O_CREAT|O_EXCL|O_NOFOLLOW`) then hard-linked into place, key first: a link never
//!   replaces an existing name, so two processes creating the CA at once cannot both win; the
//!   loser finds the winner's key, waits a moment for its certificate and loads the pair.
//! - the key is read with `O_NOFOLLOW`: a symbolic link in its place is refused.
//! - an existing CA is never replaced: a missing half, a key that does not match the
//!   certificate, bad PEM or an expired certificate is an error naming the file and saying how
//!   to recover (restore it, or delete both files to make a new CA).

use super::{provider, CaError, Leaf};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The CA certificate's file name in the CA folder.
pub const CERT_FILE: &str = "ca.pem";
/// The CA key's file name in the CA folder.
pub const KEY_FILE: &str = "ca-key.pem";

const DAY: i64 = 86_400;
/// How long a new CA is valid.
const CA_LIFETIME: i64 = 5 * 365 * DAY;
/// How far in the past certificates start: clients whose clocks are behind are sigtap's users.
const BACKDATE: i64 = 2 * DAY;
/// How long a leaf is valid after it is issued (at most until the CA expires).
pub(crate) const LEAF_LIFETIME: i64 = 30 * DAY;
/// How long (50 ms each) a process that finds a key made in the last seconds without its
/// certificate (it lost the race to create the CA) waits for the certificate to appear.
const WAIT_FOR_CERT_TRIES: u32 = 60;

/// The local certificate authority: its certificate and the key that signs leaves.
pub struct Ca {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    path: PathBuf,
    not_after: i64,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("path", &self.path)
            .field("not_after", &self.not_after)
            .field("key", &"[private key elided]")
            .finish()
    }
}

fn err(msg: impl Into<String>) -> CaError {
    CaError::new(msg)
}

impl Ca {
    /// Loads DIR/ca.pem + DIR/ca-key.pem, creating them (and DIR) if neither exists.
    /// `now` = unix seconds (the caller's clock).
    ///
    /// Blocking file I/O (and, while another process creates the CA, up to 3 s of waiting):
    /// call it at start-up, not on an async worker per request.
    pub fn load_or_create(dir: &Path, now: i64) -> Result<Ca, CaError> {
        let dir = prepare_dir(dir)?;
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        if !exists(&cert_path)? && !exists(&key_path)? {
            create(&dir, &cert_path, &key_path, now)?;
        }
        // a key made just now without its certificate: another process is creating the CA
        // (it links the key first); give it a moment before calling the CA incomplete
        let mut tries = 0;
        while tries < WAIT_FOR_CERT_TRIES && !exists(&cert_path)? && made_lately(&key_path, now) {
            std::thread::sleep(std::time::Duration::from_millis(50));
            tries += 1;
        }
        Ca::load(&cert_path, &key_path, now)
    }

    fn load(cert_path: &Path, key_path: &Path, now: i64) -> Result<Ca, CaError> {
        let (c, k) = (cert_path.display(), key_path.display());
        match (exists(cert_path)?, exists(key_path)?) {
            (true, true) => {}
            (false, true) => {
                return Err(err(format!(
                    "the local CA is incomplete: {k} exists but {c} does not. sigtap will not \
                     replace it: restore {c}, or delete {k} to make a new CA (clients will then \
                     have to trust the new one)"
                )))
            }
            (true, false) => {
                return Err(err(format!(
                    "the local CA is incomplete: {c} exists but its key {k} does not. sigtap \
                     will not replace it: restore the key, or delete {c} to make a new CA \
                     (clients will then have to trust the new one)"
                )))
            }
            (false, false) => {
                return Err(err(format!("the local CA is missing: no {c} and no {k}")))
            }
        }
        let cert_pem = fs::read_to_string(cert_path)
            .map_err(|e| err(format!("cannot read the CA certificate {c}: {e}")))?;
        let cert_der = match CertificateDer::pem_slice_iter(cert_pem.as_bytes()).next() {
            Some(Ok(der)) => der.into_owned(),
            Some(Err(e)) => return Err(err(format!("{c}: not a readable PEM certificate: {e}"))),
            None => {
                return Err(err(format!(
                    "{c}: no certificate in it (expected \"-----BEGIN CERTIFICATE-----\")"
                )))
            }
        };
        let (_, x509) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| err(format!("{c}: not a valid X.509 certificate: {e}")))?;
        if !x509.is_ca() {
            return Err(err(format!(
                "{c}: not a CA certificate (no basicConstraints CA:TRUE); delete {c} and {k} \
                 to make a new CA"
            )));
        }
        let not_after = x509.validity().not_after.timestamp();
        if now >= not_after {
            return Err(err(format!(
                "{c}: the local CA expired on {}; delete {c} and {k} to make a new one (and \
                 trust the new one in your clients)",
                crate::timefmt::rfc3339(not_after)
            )));
        }
        let key_pem = read_key(key_path)?;
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
            rustls_pki_types::pem::Error::NoItemsFound => err(format!(
                "{k}: no private key in it (expected \"-----BEGIN PRIVATE KEY-----\")"
            )),
            e => err(format!("{k}: not a readable PEM private key: {e}")),
        })?;
        let key = KeyPair::try_from(&key_der).map_err(|e| {
            err(format!(
                "{k}: cannot use this private key ({e}); the CA key must be an unencrypted \
                 PKCS#8 EC P-256/P-384, Ed25519 or RSA key (`openssl pkcs8 -topk8 -nocrypt` \
                 converts one)"
            ))
        })?;
        if key.subject_public_key_info() != x509.tbs_certificate.subject_pki.raw {
            return Err(err(format!(
                "{k} does not belong to {c} (its public key is not the certificate's). sigtap \
                 will not replace them: restore the matching pair, or delete both files to make \
                 a new CA"
            )));
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|e| err(format!("{c}: cannot issue certificates with this CA: {e}")))?;
        Ok(Ca {
            cert_pem,
            cert_der,
            issuer,
            path: cert_path.to_path_buf(),
            not_after,
        })
    }

    /// The absolute path of `ca.pem`.
    pub fn cert_path(&self) -> &Path {
        &self.path
    }

    /// The text of `ca.pem` as read.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate (DER).
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// When the CA certificate expires (unix seconds).
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// When a leaf issued at `now` stops being valid: 30 days on, but not after the CA.
    pub(crate) fn leaf_not_after(&self, now: i64) -> i64 {
        now.saturating_add(LEAF_LIFETIME).min(self.not_after)
    }

    /// A leaf for `names` (DNS names or IP literals, `[::1]` too), issued now: valid from two
    /// days ago for 30 days (not past the CA), CN = the first name, every name a SAN, a fresh
    /// ECDSA P-256 key, extendedKeyUsage serverAuth, a random serial. `chain` = [leaf, CA].
    pub fn issue(&self, names: &[&str], now: i64) -> Result<Leaf, CaError> {
        let Some(first) = names.first() else {
            return Err(err("cannot issue a certificate for no name"));
        };
        let not_after = self.leaf_not_after(now);
        if not_after <= now {
            return Err(err(format!(
                "{}: the local CA has expired; delete it to make a new one",
                self.path.display()
            )));
        }
        let mut sans = Vec::with_capacity(names.len());
        for name in names {
            sans.push(san(name)?);
        }
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans;
        let mut dn = DistinguishedName::new();
        // X.509 caps a CN at 64 characters; a longer name (a long bucket's virtual host) is in
        // the SANs only, which clients match on (rcgen then marks them critical)
        if bare(first).len() <= 64 {
            dn.push(DnType::CommonName, bare(first));
        }
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = datetime(now.saturating_sub(BACKDATE))?;
        params.not_after = datetime(not_after)?;
        params.serial_number = Some(random_serial()?);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| err(format!("cannot make a key: {e}")))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| err(format!("cannot issue a certificate for {first}: {e}")))?;
        Ok(Leaf {
            chain: vec![cert.der().clone(), self.cert_der.clone()],
            key: PrivateKeyDer::from(key),
        })
    }
}

/// A name without the brackets of an IPv6 literal.
fn bare(name: &str) -> &str {
    let n = name.trim();
    n.strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(n)
}

/// One subjectAltName: an IP address when the name is one, else a DNS name.
fn san(name: &str) -> Result<SanType, CaError> {
    let n = bare(name);
    if let Ok(ip) = n.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let valid = !n.is_empty()
        && n.len() <= 253
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*'));
    if !valid {
        return Err(err(format!(
            "cannot issue a certificate for {name:?}: not a host name or IP address"
        )));
    }
    let ia5 = rcgen::string::Ia5String::try_from(n)
        .map_err(|e| err(format!("cannot issue a certificate for {name:?}: {e}")))?;
    Ok(SanType::DnsName(ia5))
}

fn datetime(t: i64) -> Result<time::OffsetDateTime, CaError> {
    time::OffsetDateTime::from_unix_timestamp(t).map_err(|_| err(format!("time {t} out of range")))
}

/// Random bytes from the TLS provider's generator.
fn random_bytes<const N: usize>() -> Result<[u8; N], CaError> {
    let mut b = [0u8; N];
    provider()
        .secure_random
        .fill(&mut b)
        .map_err(|_| err("the system's random number generator failed"))?;
    Ok(b)
}

/// A random positive 128-bit serial number.
fn random_serial() -> Result<SerialNumber, CaError> {
    let mut b = random_bytes::<16>()?;
    b[0] &= 0x7f;
    b[0] |= 0x01; // positive, and no leading zero byte to trim
    Ok(SerialNumber::from(b.to_vec()))
}

/// Whether anything (a file, a folder, a dangling link) has this name.
fn exists(path: &Path) -> Result<bool, CaError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(err(format!("cannot look at {}: {e}", path.display()))),
    }
}

/// Whether a file was modified within a few seconds of `now` (a CA being created).
fn made_lately(path: &Path, now: i64) -> bool {
    let Ok(modified) = fs::symlink_metadata(path).and_then(|m| m.modified()) else {
        return false;
    };
    let t = match modified.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(_) => return false,
    };
    (now - t).abs() <= 10
}

/// Creates the CA folder (0700) or checks an existing one; returns it absolute.
fn prepare_dir(dir: &Path) -> Result<PathBuf, CaError> {
    let d = dir.display();
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(err(format!(
                "the CA folder {d} is not a folder: point --ca-dir (or SIGTAP_HOME) at a folder"
            )))
        }
        Ok(m) => {
            let mode = m.permissions().mode() & 0o777;
            if mode & 0o022 != 0 {
                return Err(err(format!(
                    "the CA folder {d} may be written by other users (mode {mode:o}), who could \
                     replace the CA: use a private folder, or `chmod 700 {d}`"
                )));
            }
            if mode & 0o077 != 0 && holds_only_ca_files(dir) {
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
                    err(format!(
                        "cannot make the CA folder {d} private (chmod 700): {e}"
                    ))
                })?;
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| err(format!("cannot create the CA folder {d}: {e}")))?;
        }
        Err(e) => return Err(err(format!("cannot use the CA folder {d}: {e}"))),
    }
    fs::canonicalize(dir).map_err(|e| err(format!("cannot use the CA folder {d}: {e}")))
}

/// Whether a folder holds nothing but the CA's files (and their temp files): sigtap's own.
fn holds_only_ca_files(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.into_iter().all(|e| {
        e.ok().is_some_and(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name == CERT_FILE || name == KEY_FILE || name.ends_with(".tmp")
        })
    })
}

/// Reads the CA key: a regular file, not through a symbolic link; tightened to 0600 if others
/// could read it.
fn read_key(path: &Path) -> Result<Vec<u8>, CaError> {
    let k = path.display();
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                err(format!(
                    "{k} is a symbolic link: sigtap reads its CA key only from a regular file"
                ))
            } else {
                err(format!("cannot read the CA key {k}: {e}"))
            }
        })?;
    let meta = f
        .metadata()
        .map_err(|e| err(format!("cannot read the CA key {k}: {e}")))?;
    if !meta.is_file() {
        return Err(err(format!("{k} is not a regular file")));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!("{k} could be read by other users; setting its mode to 0600");
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| {
                err(format!(
                    "cannot make the CA key {k} private (chmod 600): {e}"
                ))
            })?;
    }
    let mut out = Vec::new();
    f.read_to_end(&mut out)
        .map_err(|e| err(format!("cannot read the CA key {k}: {e}")))?;
    Ok(out)
}

/// A new file with exactly these bytes: `O_EXCL` (never an existing name), `O_NOFOLLOW`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Puts `bytes` (already written to `tmp`) at `dest` unless something is there; true if this
/// call put them there.
fn publish(tmp: &Path, dest: &Path, bytes: &[u8], mode: u32) -> Result<bool, CaError> {
    match fs::hard_link(tmp, dest) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        // a file system without hard links: create the name directly, still never replacing
        Err(_) => match write_new(dest, bytes, mode) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(err(format!("cannot write {}: {e}", dest.display()))),
        },
    }
}

/// The name of the machine, for the CA's subject.
fn hostname() -> String {
    let raw = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| fs::read_to_string(p).ok())
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect();
    if name.is_empty() {
        "this machine".to_string()
    } else {
        name
    }
}

/// A new self-signed CA: (certificate PEM, PKCS#8 key PEM).
fn generate(now: i64) -> Result<(String, String), CaError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| err(format!("cannot make a key: {e}")))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        format!("sigtap local CA ({})", hostname()),
    );
    dn.push(DnType::OrganizationName, "sigtap");
    params.distinguished_name = dn;
    // pathlen 0: it signs leaves only, never another CA
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = datetime(now.saturating_sub(BACKDATE))?;
    params.not_after = datetime(now.saturating_add(CA_LIFETIME))?;
    params.serial_number = Some(random_serial()?);
    let cert = params
        .self_signed(&key)
        .map_err(|e| err(format!("cannot make the CA certificate: {e}")))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Makes a new CA in `dir` unless another process gets there first (then its files stay).
pub(super) fn create(
    dir: &Path,
    cert_path: &Path,
    key_path: &Path,
    now: i64,
) -> Result<(), CaError> {
    let (cert_pem, key_pem) = generate(now)?;
    let tag: String = random_bytes::<8>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let tmp_key = dir.join(format!(".{KEY_FILE}.{tag}.tmp"));
    let tmp_cert = dir.join(format!(".{CERT_FILE}.{tag}.tmp"));
    let result = (|| -> Result<(), CaError> {
        write_new(&tmp_key, key_pem.as_bytes(), 0o600)
            .map_err(|e| err(format!("cannot write {}: {e}", tmp_key.display())))?;
        write_new(&tmp_cert, cert_pem.as_bytes(), 0o644)
            .map_err(|e| err(format!("cannot write {}: {e}", tmp_cert.display())))?;
        // the key decides who made the CA; the certificate follows it
        if publish(&tmp_key, key_path, key_pem.as_bytes(), 0o600)? {
            publish(&tmp_cert, cert_path, cert_pem.as_bytes(), 0o644)?;
        }
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    let _ = fs::remove_file(&tmp_key);
    let _ = fs::remove_file(&tmp_cert);
    result
}
