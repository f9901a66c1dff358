//! `sigtap ca`: the built binary makes the local CA once, keeps it, prints its path first and
//! tells how to trust it, never the key. openssl checks what was made (it must be installed:
//! scripts/tools.sh installs it; without it these tests fail, they do not skip).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh folder under the temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("sigtap-ca-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `sigtap ARGS` with a clean CA environment: HOME and SIGTAP_HOME as given.
fn sigtap(args: &[&str], sigtap_home: Option<&Path>, home: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigtap"));
    cmd.args(args).env_remove("SIGTAP_HOME").env("HOME", home);
    if let Some(h) = sigtap_home {
        cmd.env("SIGTAP_HOME", h);
    }
    cmd.output().expect("run sigtap")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn first_line(o: &Output) -> String {
    stdout(o).lines().next().unwrap_or_default().to_string()
}

fn openssl_text(cert: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(cert)
        .output()
        .unwrap_or_else(|e| {
            panic!("openssl is needed to check the CA and could not run ({e}); install it (apt-get install openssl, or scripts/tools.sh)")
        });
    assert!(
        out.status.success(),
        "openssl x509 {}: {}",
        cert.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn ca_init_makes_the_ca_once_and_prints_its_absolute_path() {
    let tmp = TempDir::new("init");
    let home = tmp.0.join("sigtap-home");
    let out = sigtap(&["ca", "init"], Some(&home), &tmp.0);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = PathBuf::from(first_line(&out));
    assert!(path.is_absolute(), "{path:?}");
    assert_eq!(path, std::fs::canonicalize(&home).unwrap().join("ca.pem"));
    assert_eq!(stdout(&out).lines().count(), 1, "init prints the path only");
    let key = home.join("ca-key.pem");
    assert_eq!(mode(&home), 0o700);
    assert_eq!(mode(&key), 0o600);
    let cert_bytes = std::fs::read(&path).unwrap();
    let key_bytes = std::fs::read(&key).unwrap();

    // again: the same CA, byte for byte, the same path
    let again = sigtap(&["ca", "init"], Some(&home), &tmp.0);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(first_line(&again), path.to_str().unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), cert_bytes);
    assert_eq!(std::fs::read(&key).unwrap(), key_bytes);

    // and through --ca-dir, on `ca` or on `init`, relative or not: the same files
    for args in [
        vec!["ca", "--ca-dir", home.to_str().unwrap(), "init"],
        vec!["ca", "init", "--ca-dir", home.to_str().unwrap()],
    ] {
        let o = sigtap(&args, None, Path::new("/nonexistent-home"));
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert_eq!(first_line(&o), path.to_str().unwrap(), "{args:?}");
    }
    let rel = Command::new(env!("CARGO_BIN_EXE_sigtap"))
        .args(["ca", "init", "--ca-dir", "sigtap-home"])
        .current_dir(&tmp.0)
        .output()
        .unwrap();
    assert_eq!(first_line(&rel), path.to_str().unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), cert_bytes);
}

#[test]
fn the_ca_is_a_signing_ca_as_openssl_reads_it() {
    let tmp = TempDir::new("openssl");
    let dir = tmp.0.join("ca");
    let out = sigtap(
        &["ca", "init", "--ca-dir", dir.to_str().unwrap()],
        None,
        &tmp.0,
    );
    assert_eq!(out.status.code(), Some(0));
    let text = openssl_text(Path::new(&first_line(&out)));
    assert!(
        text.contains("X509v3 Basic Constraints: critical"),
        "{text}"
    );
    assert!(text.contains("CA:TRUE"), "{text}");
    assert!(text.contains("Certificate Sign"), "{text}");
    assert!(text.contains("Subject: CN = sigtap local CA ("), "{text}");
    assert!(text.contains("O = sigtap"), "{text}");
    // openssl agrees the key belongs to the certificate
    let pubkey = |args: &[&str], file: &Path| {
        let o = Command::new("openssl")
            .args(args)
            .arg(file)
            .output()
            .expect("openssl");
        assert!(o.status.success());
        o.stdout
    };
    assert_eq!(
        pubkey(&["x509", "-noout", "-pubkey", "-in"], &dir.join("ca.pem")),
        pubkey(&["pkey", "-pubout", "-in"], &dir.join("ca-key.pem"))
    );
}

#[test]
fn ca_without_a_subcommand_tells_how_to_trust_it_and_never_shows_the_key() {
    let tmp = TempDir::new("show");
    // the default folder: $HOME/.sigtap, made on first use
    let out = sigtap(&["ca"], None, &tmp.0);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = std::fs::canonicalize(tmp.0.join(".sigtap")).unwrap();
    let path = dir.join("ca.pem");
    assert_eq!(first_line(&out), path.to_str().unwrap());
    let text = stdout(&out);
    for needle in [
        "AWS_CA_BUNDLE",
        "--ca-bundle",
        "REQUESTS_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "--ca-cert",
        "VerifySSL",
        "coscmd",
        "--cacert",
        "update-ca-certificates",
        "HTTPS_PROXY=http://127.0.0.1:",
    ] {
        assert!(text.contains(needle), "no {needle}:\n{text}");
    }
    // every instruction names the certificate by its full path
    assert!(
        text.contains(&format!("AWS_CA_BUNDLE={}", path.display())),
        "{text}"
    );

    let key = std::fs::read_to_string(dir.join("ca-key.pem")).unwrap();
    let body: String = key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    assert!(body.len() > 40, "a key body to look for: {key}");
    let all = format!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains("PRIVATE KEY"), "{all}");
    assert!(
        !all.replace(['\n', ' '], "").contains(&body),
        "the key leaked:\n{all}"
    );
    for line in key
        .lines()
        .filter(|l| l.len() > 16 && !l.starts_with("-----"))
    {
        assert!(!all.contains(line), "a line of the key leaked: {line}");
    }

    // `ca show` is the same
    let show = sigtap(&["ca", "show"], None, &tmp.0);
    assert_eq!(show.status.code(), Some(0));
    assert_eq!(stdout(&show), text);
}

#[test]
fn a_file_as_the_ca_folder_is_a_clear_error() {
    let tmp = TempDir::new("notdir");
    let file = tmp.0.join("plain-file");
    std::fs::write(&file, b"not a folder").unwrap();
    for args in [
        vec!["ca", "init", "--ca-dir", file.to_str().unwrap()],
        vec!["ca", "--ca-dir", file.to_str().unwrap()],
    ] {
        let out = sigtap(&args, None, &tmp.0);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert_eq!(out.status.code(), Some(2), "the user's to fix: {args:?}");
        assert!(out.stdout.is_empty(), "{}", stdout(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("sigtap: ")
                && err.contains("plain-file")
                && err.contains("not a folder"),
            "{err}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"not a folder");
    }
}

#[test]
fn half_a_ca_is_refused_and_left_alone() {
    let tmp = TempDir::new("half");
    let dir = tmp.0.join("ca");
    let out = sigtap(
        &["ca", "init", "--ca-dir", dir.to_str().unwrap()],
        None,
        &tmp.0,
    );
    assert_eq!(out.status.code(), Some(0));
    std::fs::remove_file(dir.join("ca.pem")).unwrap();
    let key_bytes = std::fs::read(dir.join("ca-key.pem")).unwrap();
    let out = sigtap(
        &["ca", "init", "--ca-dir", dir.to_str().unwrap()],
        None,
        &tmp.0,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ca-key.pem") && err.contains("ca.pem"),
        "{err}"
    );
    assert!(!dir.join("ca.pem").exists());
    assert_eq!(std::fs::read(dir.join("ca-key.pem")).unwrap(), key_bytes);
}

#[test]
fn no_home_and_no_ca_dir_says_what_to_pass() {
    let out = Command::new(env!("CARGO_BIN_EXE_sigtap"))
        .args(["ca", "init"])
        .env_remove("SIGTAP_HOME")
        .env_remove("HOME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--ca-dir"), "{err}");
}

#[test]
fn ca_help_describes_the_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_sigtap"))
        .args(["ca", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    assert!(help.contains("init") && help.contains("--ca-dir"), "{help}");
    assert!(help.contains("SIGTAP_HOME"), "{help}");
}
