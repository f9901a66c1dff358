//! Access keys and secrets: where they come from and types that never print them.
//!
//! One [`KeyStore`] serves every command. Secrets live in [`Secret`], which has no
//! `Display`, a redacting `Debug`, no `Serialize`, and is zeroed on drop.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroize;

/// A secret string (secret key or session token). It cannot be printed or serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret bytes, for HMAC keys and comparisons only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// One access key with its secret and, for temporary keys, its session token.
#[derive(Clone, Debug)]
pub struct Credential {
    /// Where the key came from (a profile or section name, `--access-key`, an env variable).
    pub label: String,
    pub access_key: String,
    pub secret: Secret,
    pub session_token: Option<Secret>,
}

impl Credential {
    pub fn new(access_key: impl Into<String>, secret: impl Into<String>) -> Self {
        Credential {
            label: String::from("--access-key"),
            access_key: access_key.into(),
            secret: Secret::new(secret),
            session_token: None,
        }
    }
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.session_token = token.map(Secret::new);
        self
    }
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
}

/// The demo key sigtap makes up when it fronts its embedded mock with no key given. Its secret
/// is public (printed in banners and the README); it opens nothing but the mock.
const DEMO_ACCESS_KEY: &str = "AKIDSIGTAPDEMO000001";
const DEMO_SECRET: &str = "sigtapDemoSecretKey/NotARealSecret0000001";

pub fn demo_key() -> Credential {
    Credential::new(DEMO_ACCESS_KEY, DEMO_SECRET).with_label("demo")
}

/// Whether `k` is the made-up demo key (the only key whose secret sigtap ever prints).
pub fn is_demo_key(k: &Credential) -> bool {
    k.access_key == DEMO_ACCESS_KEY && k.secret.expose() == DEMO_SECRET
}

/// Every key sigtap knows, looked up by access key id (SecretId for COS). The lookup is a hash
/// map: the proxy looks a key up for every signed request, and a store may hold hundreds.
#[derive(Clone, Debug, Default)]
pub struct KeyStore {
    keys: Vec<Credential>,
    /// Position in `keys` by access key id.
    index: std::collections::HashMap<String, usize>,
}

impl KeyStore {
    pub fn new() -> Self {
        KeyStore::default()
    }
    pub fn single(c: Credential) -> Self {
        let mut k = KeyStore::new();
        k.add(c);
        k
    }
    /// Adds a key; a later key with the same id replaces an earlier one (and moves to the end).
    pub fn add(&mut self, c: Credential) {
        if self.index.contains_key(&c.access_key) {
            self.keys.retain(|k| k.access_key != c.access_key);
            self.keys.push(c);
            self.index = self
                .keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.access_key.clone(), i))
                .collect();
        } else {
            self.index.insert(c.access_key.clone(), self.keys.len());
            self.keys.push(c);
        }
    }
    pub fn get(&self, access_key: &str) -> Option<&Credential> {
        self.index.get(access_key).map(|&i| &self.keys[i])
    }
    pub fn all(&self) -> &[Credential] {
        &self.keys
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

/// Errors while loading keys; they name the file or variable, never a secret.
#[derive(Debug)]
pub enum CredentialError {
    Unreadable(PathBuf, std::io::Error),
    Syntax(PathBuf, usize, String),
    Incomplete(String),
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialError::Unreadable(p, e) => {
                write!(f, "cannot read credentials file {}: {e}", p.display())
            }
            CredentialError::Syntax(p, line, why) => {
                write!(f, "{}:{line}: {why}", p.display())
            }
            CredentialError::Incomplete(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for CredentialError {}

/// Sections of an INI file: name -> (key -> value). Keys are lower-cased, values trimmed.
pub type IniSections = BTreeMap<String, BTreeMap<String, String>>;

/// Parses the AWS shared-credentials/config INI dialect (`[section]`, `key = value`,
/// `#`/`;` comments, indented continuation lines belong to nested blocks and are ignored).
pub fn parse_ini(text: &str, origin: &Path) -> Result<IniSections, CredentialError> {
    let mut out = IniSections::new();
    let mut current: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // nested value (e.g. `s3 =\n    addressing_style = path`): not a key we use
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(CredentialError::Syntax(
                    origin.to_path_buf(),
                    i + 1,
                    "section header without a closing ']'".into(),
                ));
            };
            let name = name.trim().to_string();
            out.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let Some((k, v)) = trimmed.split_once('=') else {
            return Err(CredentialError::Syntax(
                origin.to_path_buf(),
                i + 1,
                "expected `key = value` or `[section]`".into(),
            ));
        };
        let Some(section) = &current else {
            return Err(CredentialError::Syntax(
                origin.to_path_buf(),
                i + 1,
                "a key before any [section]".into(),
            ));
        };
        out.entry(section.clone())
            .or_default()
            .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    Ok(out)
}

fn credential_from_section(label: &str, s: &BTreeMap<String, String>) -> Option<Credential> {
    let ak = s.get("aws_access_key_id")?;
    let sk = s.get("aws_secret_access_key")?;
    Some(
        Credential::new(ak.clone(), sk.clone())
            .with_token(s.get("aws_session_token").cloned())
            .with_label(label),
    )
}

/// Loads every section of a `--credentials FILE` (AWS shared-credentials format).
/// An unreadable file is an error: the user named it.
pub fn load_credentials_file(path: &Path) -> Result<KeyStore, CredentialError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CredentialError::Unreadable(path.to_path_buf(), e))?;
    let sections = parse_ini(&text, path)?;
    let mut store = KeyStore::new();
    for (name, s) in &sections {
        match credential_from_section(name, s) {
            Some(c) => store.add(c),
            None if s.contains_key("aws_access_key_id")
                || s.contains_key("aws_secret_access_key") =>
            {
                return Err(CredentialError::Incomplete(format!(
                    "{}: section [{name}] needs both aws_access_key_id and aws_secret_access_key",
                    path.display()
                )))
            }
            None => {}
        }
    }
    Ok(store)
}

/// The environment as a lookup function, so tests can inject one.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned().filter(|v| !v.is_empty())
    }
}

fn home_dir(env: &dyn Env) -> Option<PathBuf> {
    env.var("HOME")
        .or_else(|| env.var("USERPROFILE"))
        .map(PathBuf::from)
}

fn expand_home(p: &str, env: &dyn Env) -> PathBuf {
    match (p.strip_prefix("~/"), home_dir(env)) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(p),
    }
}

/// Reads an INI file that may legitimately be absent: like botocore, a missing file
/// (even one named by a variable) counts as empty; a present but broken one is an error.
fn read_optional_ini(path: &Path) -> Result<IniSections, CredentialError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_ini(&text, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(IniSections::new()),
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Ok(IniSections::new()),
        Err(e) => Err(CredentialError::Unreadable(path.to_path_buf(), e)),
    }
}

/// The shared credentials and config files `load_ambient` reads (present or not).
pub fn ambient_files(env: &dyn Env) -> Vec<PathBuf> {
    let home = home_dir(env);
    let creds = env
        .var("AWS_SHARED_CREDENTIALS_FILE")
        .map(|p| expand_home(&p, env))
        .or_else(|| home.as_ref().map(|h| h.join(".aws").join("credentials")));
    let config = env
        .var("AWS_CONFIG_FILE")
        .map(|p| expand_home(&p, env))
        .or_else(|| home.as_ref().map(|h| h.join(".aws").join("config")));
    creds.into_iter().chain(config).collect()
}

/// Keys from where users keep them, in botocore's order of precedence for the AWS pair:
/// environment variables, then the shared credentials file, then the config file
/// (profile from `profile` or `AWS_PROFILE`, default `default`). COS/Tencent variables
/// add their pair too, so one run can check both schemes.
pub fn load_ambient(env: &dyn Env, profile: Option<&str>) -> Result<KeyStore, CredentialError> {
    let mut store = KeyStore::new();
    for (ak_var, sk_var) in [
        ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"),
        ("COS_SECRET_ID", "COS_SECRET_KEY"),
    ] {
        if let (Some(ak), Some(sk)) = (env.var(ak_var), env.var(sk_var)) {
            store.add(Credential::new(ak, sk).with_label(ak_var));
        }
    }
    let profile = profile
        .map(str::to_string)
        .or_else(|| env.var("AWS_PROFILE"))
        .or_else(|| env.var("AWS_DEFAULT_PROFILE"));
    let explicit_profile = profile.is_some();
    let profile = profile.unwrap_or_else(|| "default".into());

    if let (Some(ak), Some(sk), false) = (
        env.var("AWS_ACCESS_KEY_ID"),
        env.var("AWS_SECRET_ACCESS_KEY"),
        explicit_profile,
    ) {
        store.add(
            Credential::new(ak, sk)
                .with_token(env.var("AWS_SESSION_TOKEN"))
                .with_label("AWS_ACCESS_KEY_ID"),
        );
        return Ok(store);
    }
    let home = home_dir(env);
    let creds_path = env
        .var("AWS_SHARED_CREDENTIALS_FILE")
        .map(|p| expand_home(&p, env))
        .or_else(|| home.as_ref().map(|h| h.join(".aws").join("credentials")));
    if let Some(p) = creds_path {
        let sections = read_optional_ini(&p)?;
        if let Some(c) = sections
            .get(&profile)
            .and_then(|s| credential_from_section(&profile, s))
        {
            store.add(c);
            return Ok(store);
        }
    }
    let config_path = env
        .var("AWS_CONFIG_FILE")
        .map(|p| expand_home(&p, env))
        .or_else(|| home.as_ref().map(|h| h.join(".aws").join("config")));
    if let Some(p) = config_path {
        let sections = read_optional_ini(&p)?;
        let name = if profile == "default" {
            "default".to_string()
        } else {
            format!("profile {profile}")
        };
        if let Some(c) = sections
            .get(&name)
            .or_else(|| sections.get(&profile))
            .and_then(|s| credential_from_section(&profile, s))
        {
            store.add(c);
        }
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_store_finds_each_key_and_a_later_one_replaces_an_earlier() {
        let mut k = KeyStore::new();
        for i in 0..300 {
            k.add(Credential::new(format!("AK{i}"), format!("S{i}")));
        }
        assert_eq!(k.len(), 300);
        assert_eq!(k.get("AK17").map(|c| c.secret.expose()), Some("S17"));
        assert!(k.get("AK300").is_none());
        k.add(Credential::new("AK17", "new"));
        assert_eq!(k.len(), 300);
        assert_eq!(k.get("AK17").map(|c| c.secret.expose()), Some("new"));
        assert_eq!(k.all().last().map(|c| c.access_key.as_str()), Some("AK17"));
        for i in (0..300).filter(|i| *i != 17) {
            let c = k.get(&format!("AK{i}")).unwrap();
            assert_eq!(c.secret.expose(), format!("S{i}"));
        }
        assert_eq!(
            KeyStore::single(Credential::new("A", "B"))
                .get("A")
                .map(|c| c.secret.expose()),
            Some("B")
        );
    }

    #[test]
    fn secret_never_prints() {
        let c = Credential::new("AK", "super-secret-value").with_token(Some("tok-123".into()));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("super-secret-value"), "{dbg}");
        assert!(!dbg.contains("tok-123"), "{dbg}");
        assert!(dbg.contains("AK"));
    }

    #[test]
    fn ini_sections_and_nested_blocks() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key=B\n# c\n[profile x]\ns3 =\n    addressing_style = path\nregion = us-east-1\n";
        let s = parse_ini(text, Path::new("t")).unwrap();
        assert_eq!(s["default"]["aws_access_key_id"], "A");
        assert_eq!(s["profile x"]["region"], "us-east-1");
        assert!(!s["profile x"].contains_key("addressing_style"));
    }

    #[test]
    fn ini_errors_name_the_line() {
        let e = parse_ini("[a]\nnot a pair\n", Path::new("f.ini")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.ini:2: expected `key = value` or `[section]`"
        );
    }

    #[test]
    fn missing_files_count_as_empty() {
        let mut env = BTreeMap::new();
        env.insert(
            "AWS_SHARED_CREDENTIALS_FILE".to_string(),
            "/nonexistent/sigtap/credentials".to_string(),
        );
        env.insert(
            "AWS_CONFIG_FILE".to_string(),
            "/nonexistent/sigtap/config".to_string(),
        );
        let store = load_ambient(&env, None).unwrap();
        assert!(store.is_empty());
    }

    #[test]
    fn env_keys_and_cos_keys_together() {
        let mut env = BTreeMap::new();
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", "AKIA1"),
            ("AWS_SECRET_ACCESS_KEY", "s1"),
            ("AWS_SESSION_TOKEN", "t1"),
            ("COS_SECRET_ID", "AKID2"),
            ("COS_SECRET_KEY", "s2"),
        ] {
            env.insert(k.to_string(), v.to_string());
        }
        let store = load_ambient(&env, None).unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(
            store
                .get("AKIA1")
                .unwrap()
                .session_token
                .as_ref()
                .unwrap()
                .expose(),
            "t1"
        );
        assert_eq!(store.get("AKID2").unwrap().secret.expose(), "s2");
    }
}
