//! Temporary upstream credentials and where they come from: an AWS profile (static keys or
//! `credential_process`, resolved as botocore does), the container credential endpoint
//! (`AWS_CONTAINER_CREDENTIALS_FULL_URI` / `_RELATIVE_URI`, with
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]`), and Tencent Cloud's CVM instance-role metadata
//! endpoint. Each answer is parsed by a pure function; fetching is blocking I/O with timeouts,
//! run by the proxy's refresher thread, never on a request's path. No error text carries a
//! secret or a whole token.

use crate::clock::UnixTime;
use crate::credentials::{parse_ini, Credential, Env};
use crate::timefmt::parse_user_time;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

/// A credential and when it stops working (`None`: it does not expire).
#[derive(Clone, Debug)]
pub struct Temporary {
    pub cred: Credential,
    pub expires: Option<UnixTime>,
}

/// Where the upstream identity comes from, fetched again before it expires.
pub trait Provider: Send + Sync {
    /// For messages: which source this is (no secret).
    fn describe(&self) -> String;
    /// Fetches the credential now.
    fn fetch(&self) -> Result<Temporary, String>;
    /// Files whose change means the credential should be fetched again.
    fn files(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

fn field<'a>(v: &'a Value, name: &str, what: &str) -> Result<&'a str, String> {
    v.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("{what}: the answer has no {name}"))
}

fn expiration(v: &Value, what: &str) -> Result<Option<UnixTime>, String> {
    match v.get("Expiration") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_user_time(s)
            .map(Some)
            .ok_or_else(|| format!("{what}: Expiration {s:?} is not an ISO 8601 time")),
        Some(_) => Err(format!("{what}: Expiration is not a string")),
    }
}

/// The JSON a `credential_process` prints (`Version` 1).
pub fn parse_process_output(text: &str, label: &str) -> Result<Temporary, String> {
    let what = "credential_process";
    let v: Value = serde_json::from_str(text.trim())
        .map_err(|e| format!("{what}: its output is not JSON ({e})"))?;
    match v.get("Version").and_then(Value::as_i64) {
        Some(1) => {}
        other => {
            return Err(format!(
                "{what}: Version must be 1, got {}",
                other.map_or("none".to_string(), |n| n.to_string())
            ))
        }
    }
    let cred = Credential::new(
        field(&v, "AccessKeyId", what)?,
        field(&v, "SecretAccessKey", what)?,
    )
    .with_token(
        v.get("SessionToken")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    )
    .with_label(label);
    Ok(Temporary {
        cred,
        expires: expiration(&v, what)?,
    })
}

/// The JSON of the container credential endpoint.
pub fn parse_container_answer(text: &str) -> Result<Temporary, String> {
    let what = "container credential endpoint";
    let v: Value =
        serde_json::from_str(text.trim()).map_err(|e| format!("{what}: not JSON ({e})"))?;
    let cred = Credential::new(
        field(&v, "AccessKeyId", what)?,
        field(&v, "SecretAccessKey", what)?,
    )
    .with_token(
        v.get("Token")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    )
    .with_label("container");
    Ok(Temporary {
        cred,
        expires: expiration(&v, what)?,
    })
}

/// The JSON of the CVM metadata endpoint for a role (`Code` "Success", `TmpSecretId`,
/// `TmpSecretKey`, `Token`, `ExpiredTime` in unix seconds).
pub fn parse_cvm_answer(text: &str, role: &str) -> Result<Temporary, String> {
    let what = format!("CVM role {role}");
    let v: Value =
        serde_json::from_str(text.trim()).map_err(|e| format!("{what}: not JSON ({e})"))?;
    if let Some(code) = v.get("Code").and_then(Value::as_str) {
        if code != "Success" {
            return Err(format!(
                "{what}: the metadata service answered Code {code:?}"
            ));
        }
    }
    let cred = Credential::new(
        field(&v, "TmpSecretId", &what)?,
        field(&v, "TmpSecretKey", &what)?,
    )
    .with_token(
        v.get("Token")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    )
    .with_label(format!("cvm:{role}"));
    let expires = match v.get("ExpiredTime").and_then(Value::as_i64) {
        Some(t) => Some(t),
        None => expiration(&v, &what)?,
    };
    Ok(Temporary { cred, expires })
}

/// Splits a `credential_process` command line as a POSIX shell would split words (quotes and
/// backslashes), without running a shell, as botocore does.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err("credential_process: an unclosed ' quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => cur.push(ch),
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => return Err("credential_process: an unclosed \" quote".into()),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err("credential_process: an unclosed \" quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(ch) = chars.next() {
                    cur.push(ch);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    if words.is_empty() {
        return Err("credential_process is empty".into());
    }
    Ok(words)
}

/// How long a `credential_process` or an endpoint may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a credential answer may hold.
const ANSWER_LIMIT: usize = 64 * 1024;

/// Runs a `credential_process` command and parses what it prints.
pub fn run_process(command: &str, label: &str) -> Result<Temporary, String> {
    let words = split_command(command)?;
    let mut child = std::process::Command::new(&words[0])
        .args(&words[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("credential_process {:?} could not start: {e}", words[0]))?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut o = Vec::new();
        let mut e = Vec::new();
        if let Some(s) = out.as_mut() {
            let _ = s.take(ANSWER_LIMIT as u64 + 1).read_to_end(&mut o);
        }
        if let Some(s) = err.as_mut() {
            let _ = s.take(4096).read_to_end(&mut e);
        }
        (o, e)
    });
    let mut waited = Duration::ZERO;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if waited >= FETCH_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "credential_process {:?} did not finish within {}s",
                    words[0],
                    FETCH_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => {
                std::thread::sleep(Duration::from_millis(20));
                waited += Duration::from_millis(20);
            }
            Err(e) => return Err(format!("credential_process: {e}")),
        }
    };
    let (out, err) = reader.join().unwrap_or_default();
    if !status.success() {
        let why = String::from_utf8_lossy(&err);
        let why: String = why.trim().chars().take(300).collect();
        return Err(format!(
            "credential_process {:?} failed ({status}){}",
            words[0],
            if why.is_empty() {
                String::new()
            } else {
                format!(": {why}")
            }
        ));
    }
    if out.len() > ANSWER_LIMIT {
        return Err("credential_process printed more than 64 KiB".into());
    }
    parse_process_output(&String::from_utf8_lossy(&out), label)
}

/// A blocking `GET` over plain HTTP with timeouts; the body of a 2xx answer.
pub fn http_get(url: &str, headers: &[(&str, String)]) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// endpoints are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let sock = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .map_err(|e| format!("{url}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: no address"))?;
    let mut s = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(2))
        .map_err(|e| format!("{url}: {e}"))?;
    let _ = s.set_read_timeout(Some(FETCH_TIMEOUT));
    let _ = s.set_write_timeout(Some(FETCH_TIMEOUT));
    let mut head = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())
        .map_err(|e| format!("{url}: {e}"))?;
    let mut raw = Vec::new();
    s.take(ANSWER_LIMIT as u64 + 16 * 1024)
        .read_to_end(&mut raw)
        .map_err(|e| format!("{url}: {e}"))?;
    let resp = crate::wire::Response::parse(&raw).map_err(|e| format!("{url}: {e}"))?;
    if !(200..300).contains(&resp.status) {
        return Err(format!("{url} answered {}", resp.status));
    }
    Ok(String::from_utf8_lossy(&resp.body).into_owned())
}

/// The container credential endpoint, from the environment as the AWS SDKs read it.
pub struct Container {
    url: String,
    token: Option<String>,
    token_file: Option<PathBuf>,
}

impl Container {
    pub fn from_env(env: &dyn Env) -> Result<Container, String> {
        let url = match (
            env.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            env.var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        ) {
            (Some(rel), _) => format!("http://169.254.170.2{rel}"),
            (None, Some(full)) => full,
            (None, None) => {
                return Err("the container credential endpoint needs AWS_CONTAINER_CREDENTIALS_FULL_URI or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI".into())
            }
        };
        Ok(Container {
            url,
            token: env.var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
            token_file: env
                .var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
                .map(PathBuf::from),
        })
    }
}

impl Provider for Container {
    fn describe(&self) -> String {
        format!("container credential endpoint {}", self.url)
    }
    fn fetch(&self) -> Result<Temporary, String> {
        // the token file is read on every fetch: the platform rotates it
        let token = match &self.token_file {
            Some(f) => Some(
                std::fs::read_to_string(f)
                    .map_err(|e| {
                        format!(
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {}: {e}",
                            f.display()
                        )
                    })?
                    .trim()
                    .to_string(),
            ),
            None => self.token.clone(),
        };
        let headers: Vec<(&str, String)> =
            token.map(|t| ("Authorization", t)).into_iter().collect();
        parse_container_answer(&http_get(&self.url, &headers)?)
    }
}

/// Tencent Cloud's CVM instance-role metadata endpoint.
pub struct Cvm {
    /// The metadata base (`http://metadata.tencentyun.com/latest/meta-data/`).
    pub base: String,
    /// The role; `None` asks the endpoint which role the instance has.
    pub role: Option<String>,
}

/// Where CVM instances read their metadata.
pub const CVM_METADATA: &str = "http://metadata.tencentyun.com/latest/meta-data/";

impl Provider for Cvm {
    fn describe(&self) -> String {
        format!("CVM instance-role metadata {}", self.base)
    }
    fn fetch(&self) -> Result<Temporary, String> {
        let base = if self.base.ends_with('/') {
            self.base.clone()
        } else {
            format!("{}/", self.base)
        };
        let roles = format!("{base}cam/security-credentials/");
        let role = match &self.role {
            Some(r) => r.clone(),
            None => http_get(&roles, &[])?
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
                .ok_or(
                    "the CVM metadata endpoint names no role: is a role bound to the instance?",
                )?,
        };
        parse_cvm_answer(&http_get(&format!("{roles}{role}"), &[])?, &role)
    }
}

/// `--upstream-profile NAME`: a profile of the AWS shared credentials and config files, read
/// again on every fetch: static keys in the credentials file, else the config profile's
/// `credential_process`, else its static keys (botocore's order for a named profile).
pub struct Profile {
    pub name: String,
    pub credentials_file: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
}

impl Profile {
    pub fn from_env(name: &str, env: &dyn Env) -> Profile {
        let files = crate::credentials::ambient_files(env);
        Profile {
            name: name.to_string(),
            credentials_file: files.first().cloned(),
            config_file: files.get(1).cloned(),
        }
    }
}

fn read_sections(path: &Option<PathBuf>) -> Result<crate::credentials::IniSections, String> {
    let Some(p) = path else {
        return Ok(Default::default());
    };
    match std::fs::read_to_string(p) {
        Ok(text) => parse_ini(&text, p).map_err(|e| e.to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(format!("{}: {e}", p.display())),
    }
}

impl Provider for Profile {
    fn describe(&self) -> String {
        format!("profile {}", self.name)
    }
    fn files(&self) -> Vec<PathBuf> {
        self.credentials_file
            .iter()
            .chain(self.config_file.iter())
            .cloned()
            .collect()
    }
    fn fetch(&self) -> Result<Temporary, String> {
        let name = &self.name;
        let statics = |s: &std::collections::BTreeMap<String, String>| match (
            s.get("aws_access_key_id"),
            s.get("aws_secret_access_key"),
        ) {
            (Some(ak), Some(sk)) => Some(Temporary {
                cred: Credential::new(ak.clone(), sk.clone())
                    .with_token(s.get("aws_session_token").cloned())
                    .with_label(name.clone()),
                expires: None,
            }),
            _ => None,
        };
        let creds = read_sections(&self.credentials_file)?;
        if let Some(t) = creds.get(name).and_then(statics) {
            return Ok(t);
        }
        let config = read_sections(&self.config_file)?;
        let section = if name == "default" {
            config.get("default")
        } else {
            config.get(&format!("profile {name}"))
        };
        let Some(section) = section else {
            return Err(format!(
                "profile {name} is in neither the credentials nor the config file"
            ));
        };
        if let Some(cmd) = section.get("credential_process") {
            return run_process(cmd, name);
        }
        if let Some(t) = statics(section) {
            return Ok(t);
        }
        if section.contains_key("role_arn") || section.contains_key("sso_session") {
            return Err(format!("profile {name} assumes a role or uses SSO, which sigtap does not do (it calls no STS): give it a credential_process instead"));
        }
        Err(format!(
            "profile {name} has no keys and no credential_process"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_output_is_read_as_botocore_reads_it() {
        let t = parse_process_output(
            r#"{"Version": 1, "AccessKeyId": "AK", "SecretAccessKey": "SK",
                "SessionToken": "TOKEN", "Expiration": "2026-12-03T15:00:00Z"}"#,
            "p",
        )
        .unwrap();
        assert_eq!(t.cred.access_key, "AK");
        assert_eq!(t.cred.secret.expose(), "SK");
        assert_eq!(
            t.cred.session_token.as_ref().map(|s| s.expose()),
            Some("TOKEN")
        );
        assert_eq!(t.expires, Some(1_796_310_000));
        // no Expiration: a key that does not expire
        let t = parse_process_output(
            r#"{"Version":1,"AccessKeyId":"AK","SecretAccessKey":"SK"}"#,
            "p",
        )
        .unwrap();
        assert_eq!(t.expires, None);
        for bad in [
            r#"{"Version":2,"AccessKeyId":"AK","SecretAccessKey":"SK"}"#,
            r#"{"AccessKeyId":"AK","SecretAccessKey":"SK"}"#,
            r#"{"Version":1,"AccessKeyId":"AK"}"#,
            r#"{"Version":1,"AccessKeyId":"AK","SecretAccessKey":"SK","Expiration":"soon"}"#,
            "not json",
        ] {
            let e = parse_process_output(bad, "p").unwrap_err();
            assert!(!e.contains("SK\""), "{e}");
        }
    }

    #[test]
    fn container_and_cvm_answers() {
        let t = parse_container_answer(
            r#"{"AccessKeyId":"ASIA1","SecretAccessKey":"S","Token":"T","Expiration":"2026-12-03T15:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            (t.cred.access_key.as_str(), t.expires),
            ("ASIA1", Some(1_796_310_000))
        );
        let t = parse_cvm_answer(
            r#"{"TmpSecretId":"AKIDtmp","TmpSecretKey":"K","Token":"T","ExpiredTime":1796310000,"Expiration":"2026-12-03T15:00:00Z","Code":"Success"}"#,
            "role",
        )
        .unwrap();
        assert_eq!(t.cred.access_key, "AKIDtmp");
        assert_eq!(t.expires, Some(1_796_310_000));
        assert!(parse_cvm_answer(r#"{"Code":"Failed"}"#, "role").is_err());
    }

    #[test]
    fn commands_split_like_a_shell_without_one() {
        assert_eq!(
            split_command(r#"/bin/get-keys --profile "a b" 'c d' e\ f"#).unwrap(),
            vec!["/bin/get-keys", "--profile", "a b", "c d", "e f"]
        );
        assert!(split_command("  ").is_err());
        assert!(split_command("x 'open").is_err());
    }
}
