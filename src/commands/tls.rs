//! The TLS side of the commands: the listener's certificate (`--tls`), the local CA for
//! interception (`proxy --forward`), and `sigtap ca`.

use super::{runtime, usage, CommandError};
use crate::clock::Clock;
use std::io::Write;

/// The TLS side of `sigtap proxy`: the listener's certificate (`--tls`) and, in forward mode,
/// the local CA that intercepts HTTPS. A CA that cannot be opened leaves forward mode serving
/// plain http (a CONNECT is then answered 503 with the reason), and says so.
pub(super) fn proxy_tls(
    a: &crate::cli::ProxyArgs,
    mode: &crate::proxy::Mode,
    now: i64,
) -> Result<crate::proxy::TlsOptions, CommandError> {
    let forward = matches!(mode, crate::proxy::Mode::Forward(_));
    if a.tls.on && forward {
        return Err(usage(
            "--tls serves HTTPS in reverse mode (--upstream URL); with --forward, HTTPS clients \
             send CONNECT and sigtap intercepts it (no --tls needed)",
        ));
    }
    let mut out = crate::proxy::TlsOptions {
        listener: listener_tls(&a.tls, now)?,
        ca: None,
    };
    if forward {
        out.ca = Some(match crate::tls::open_ca(a.tls.ca_dir.as_deref(), now) {
            Ok(ca) => Ok(std::sync::Arc::new(ca)),
            Err(e) => {
                eprintln!("sigtap: HTTPS interception is off: {e}");
                Err(e.to_string())
            }
        });
    }
    Ok(out)
}

/// `--tls`: the listener's TLS configuration, with the user's certificate or a leaf from the
/// local CA for the loopback names and each `--tls-name`.
pub(super) fn listener_tls(
    t: &crate::cli::TlsArgs,
    now: i64,
) -> Result<Option<std::sync::Arc<rustls::ServerConfig>>, CommandError> {
    if !t.on {
        return Ok(None);
    }
    let leaf = match (&t.tls_cert, &t.tls_key) {
        (Some(cert), Some(key)) => {
            crate::tls::load_pem_pair(cert, key).map_err(|e| usage(e.to_string()))?
        }
        _ => {
            let ca = crate::tls::open_ca(t.ca_dir.as_deref(), now)
                .map_err(|e| runtime(format!("--tls: {e}")))?;
            let mut names = vec!["localhost", "127.0.0.1", "::1"];
            names.extend(t.tls_name.iter().map(String::as_str));
            ca.issue(&names, now)
                .map_err(|e| runtime(format!("--tls: {e}")))?
        }
    };
    crate::tls::server_config(leaf)
        .map(Some)
        .map_err(|e| runtime(format!("--tls: {e}")))
}

/// `sigtap ca [init|show] [--ca-dir DIR]`: the CA's path first, then (show) how to trust it.
pub(super) fn ca(a: crate::cli::CaArgs, clock: &dyn Clock) -> Result<i32, CommandError> {
    // a CA folder or file that is wrong is the user's to fix (the rule on CommandError)
    let ca =
        crate::tls::open_ca(a.ca_dir.as_deref(), clock.now()).map_err(|e| usage(e.to_string()))?;
    let path = ca.cert_path().display().to_string();
    let text = match a.action {
        Some(crate::cli::CaAction::Init) => format!("{path}\n"),
        None | Some(crate::cli::CaAction::Show) => ca_guide(&path),
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| runtime(format!("cannot write to stdout: {e}")))?;
    Ok(0)
}

/// How to send traffic through the proxy and trust the CA at `path`, per client. It names the
/// key's file only by its folder and never reads it.
fn ca_guide(path: &str) -> String {
    let p = shell_quote(path);
    let py = path.replace('\\', "\\\\").replace('\'', "\\'");
    format!(
        "{path}
This is sigtap's local CA certificate. To show HTTPS clients what they send, sigtap answers
them with certificates it signs with this CA, so a client must trust it. Its private key sits
beside it (ca-key.pem, readable by you only): whoever has the key can impersonate any site to
a client that trusts this CA. Trust it only where you debug, and remove it after.

Send the traffic through the proxy:
  sigtap proxy --forward                 # listens on 127.0.0.1:8080 (--port N to change)
  export HTTPS_PROXY=http://127.0.0.1:8080 HTTP_PROXY=http://127.0.0.1:8080

Trust the CA, per client:
  boto3, botocore, the aws cli:
    export AWS_CA_BUNDLE={p}
  the aws cli, for one command:
    aws s3 ls --ca-bundle {p}
  python requests:
    export REQUESTS_CA_BUNDLE={p}
  AWS SDK for JavaScript (node):
    export NODE_EXTRA_CA_CERTS={p}
  rclone:
    rclone --ca-cert {p} ...
  cos-python-sdk-v5:
    CosConfig(..., VerifySSL='{py}')
  coscmd (cos-python-sdk-v5 underneath, which verifies through requests):
    export REQUESTS_CA_BUNDLE={p}
  curl:
    curl --cacert {p} --proxy http://127.0.0.1:8080 https://...
  the system store (Debian, Ubuntu), for every client that reads it:
    sudo cp {p} /usr/local/share/ca-certificates/sigtap.crt && sudo update-ca-certificates
    to remove it: sudo rm /usr/local/share/ca-certificates/sigtap.crt && sudo update-ca-certificates --fresh

AWS_CA_BUNDLE, REQUESTS_CA_BUNDLE, --ca-bundle, --ca-cert and --cacert replace the usual
roots: hosts not reached through sigtap then fail verification. NODE_EXTRA_CA_CERTS adds to
them (it is read once, when node starts).
"
    )
}

/// `path` as one shell word (quoted only when it needs it).
fn shell_quote(path: &str) -> String {
    let plain = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%".contains(&b));
    if plain && !path.is_empty() {
        path.to_string()
    } else {
        format!("'{}'", path.replace('\'', "'\\''"))
    }
}
