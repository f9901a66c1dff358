//! Loading a recording: the version line, one exchange per line, bodies inline or from the
//! body store beside the file. Errors name the line.

use super::check::{check_body_file, check_exchange};
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A recorded body: its size and hash, and where its bytes are (if anywhere).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct BodyRef {
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub base64: Option<String>,
    #[serde(default)]
    pub file: Option<String>,
    /// Fields of it were replaced by markers (`--redact-body-field`): not the bytes sent.
    #[serde(default)]
    pub redacted: bool,
}

/// Where a body's bytes can be had.
pub enum BodySource {
    /// Inline bytes (their size and hash were checked when the line was read).
    Inline(Vec<u8>),
    /// A stored body: open it with [`BodyRef::open`], check it with [`HashCheck`].
    File(PathBuf),
    /// Only the hash and size were kept.
    Missing,
}

impl BodyRef {
    /// Locates the bytes (`base` is the recording's folder).
    pub fn source(&self, base: &Path) -> Result<BodySource, String> {
        if let Some(b) = &self.base64 {
            return base64::engine::general_purpose::STANDARD
                .decode(b)
                .map(BodySource::Inline)
                .map_err(|e| format!("a body's base64 is broken: {e}"));
        }
        if self.size == 0 {
            return Ok(BodySource::Inline(Vec::new()));
        }
        if let Some(f) = &self.file {
            let sha = self.sha256.as_deref().unwrap_or("");
            check_body_file(f, sha)?;
            return Ok(BodySource::File(base.join(f)));
        }
        Ok(BodySource::Missing)
    }

    /// Opens a stored body: only `NAME.bodies/SHA256` in the recording's folder, never through
    /// a symbolic link (neither the folder nor the file), only a regular file of the recorded
    /// size. Its bytes still have to be checked against the hash ([`HashCheck`]).
    pub fn open(&self, base: &Path) -> Result<std::fs::File, String> {
        let Some(f) = &self.file else {
            return Err("this body is not stored in a file".into());
        };
        let sha = self.sha256.as_deref().unwrap_or("");
        check_body_file(f, sha)?;
        let path = base.join(f);
        let at = |e: &dyn std::fmt::Display| format!("body file {}: {e}", path.display());
        if let Some((dir, _)) = f.split_once('/') {
            let dir_path = base.join(dir);
            let m = std::fs::symlink_metadata(&dir_path).map_err(|e| at(&e))?;
            if m.file_type().is_symlink() {
                return Err(at(&format!(
                    "{} is a symbolic link; sigtap does not read a recording's files through a link",
                    dir_path.display()
                )));
            }
            if !m.is_dir() {
                return Err(at(&format!("{} is not a folder", dir_path.display())));
            }
        }
        let file = super::files::open_no_follow(&path).map_err(|e| at(&e))?;
        let m = file.metadata().map_err(|e| at(&e))?;
        if !m.is_file() {
            return Err(at(&"not a regular file"));
        }
        if m.len() != self.size {
            return Err(at(&format!(
                "{} bytes, but the recording says {}",
                m.len(),
                self.size
            )));
        }
        Ok(file)
    }

    /// A check of this body's bytes against its recorded hash.
    pub fn hash_check(&self) -> HashCheck {
        HashCheck {
            hasher: Sha256::new(),
            want: self.sha256.as_deref().unwrap_or("").to_ascii_lowercase(),
            what: self.file.clone().unwrap_or_else(|| "inline body".into()),
        }
    }

    /// The bytes, in memory (`None` when only the hash was recorded); a stored body is
    /// checked against its hash.
    pub fn load(&self, base: &Path) -> Result<Option<Vec<u8>>, String> {
        match self.source(base)? {
            BodySource::Inline(b) => Ok(Some(b)),
            BodySource::File(p) => {
                let mut f = self.open(base)?;
                let mut bytes = Vec::with_capacity(self.size.min(1 << 30) as usize);
                std::io::Read::read_to_end(&mut f, &mut bytes)
                    .map_err(|e| format!("body file {}: {e}", p.display()))?;
                let mut check = self.hash_check();
                check.update(&bytes);
                check.finish()?;
                Ok(Some(bytes))
            }
            BodySource::Missing => Ok(None),
        }
    }
}

/// Hashes a stored body as it is read; [`HashCheck::finish`] fails when the bytes are not
/// the ones recorded (a file edited or swapped since).
pub struct HashCheck {
    hasher: Sha256,
    want: String,
    what: String,
}

impl HashCheck {
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    pub fn finish(self) -> Result<(), String> {
        let got = crate::sig::encode::hex(&self.hasher.finalize());
        if got == self.want {
            return Ok(());
        }
        Err(format!(
            "body file {} does not match its recorded sha256 ({}… recorded, {}… read): it was changed since it was recorded",
            self.what,
            first_chars(&self.want, 12),
            &got[..12]
        ))
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RecRequest {
    pub method: String,
    pub target: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub body: BodyRef,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RecResponse {
    pub status: u16,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub body: BodyRef,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RecFinding {
    pub code: String,
    #[serde(default)]
    pub cause: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ClientSide {
    #[serde(default)]
    pub scheme: String,
    #[serde(default)]
    pub carrier: String,
    #[serde(default)]
    pub access_key: Option<String>,
    #[serde(default)]
    pub verdict: String,
    #[serde(default)]
    pub findings: Vec<RecFinding>,
}

/// One recorded exchange.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Exchange {
    #[serde(default)]
    pub id: u64,
    #[serde(default)]
    pub time: String,
    pub request: RecRequest,
    pub response: RecResponse,
    #[serde(default)]
    pub duration_ms: f64,
    #[serde(default)]
    pub client: ClientSide,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub resigned_as: Option<String>,
    /// 1-based line in the file (for messages).
    #[serde(skip)]
    pub line: usize,
}

impl Exchange {
    pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when sigtap answered the client itself (the request never reached the upstream).
    pub fn answered_locally(&self) -> bool {
        use crate::policy::Action;
        matches!(
            Action::parse(&self.action),
            Some(Action::Rejected | Action::Failed)
        )
    }
}

/// A loaded recording.
pub struct Recording {
    pub exchanges: Vec<Exchange>,
    /// The folder bodies are resolved against.
    pub base: PathBuf,
}

impl Recording {
    pub fn load(path: &Path) -> Result<Recording, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read the recording: {e}", path.display()))?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let exchanges = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Recording { exchanges, base })
    }
}

/// Parses the text of a recording. The last line may be cut short by a crash: it is ignored
/// when it is not JSON and nothing follows it.
pub fn parse(text: &str) -> Result<Vec<Exchange>, String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) if n == lines.len() && !text.ends_with('\n') => break,
            Err(e) => return Err(format!("line {n} is not JSON: {e}")),
        };
        if let Some(ver) = v.get("sigtap_recording") {
            if n != 1 {
                return Err(format!(
                    "line {n}: a version line may only be the first line"
                ));
            }
            if ver.as_u64() != Some(u64::from(super::FORMAT_VERSION)) {
                return Err(format!(
                    "line 1: recording format {ver}, this sigtap reads version {}",
                    super::FORMAT_VERSION
                ));
            }
            continue;
        }
        let mut v = v;
        check_exchange(&mut v).map_err(|e| format!("line {n}: {e}"))?;
        let mut x: Exchange =
            serde_json::from_value(v).map_err(|e| format!("line {n} is not an exchange: {e}"))?;
        x.line = n;
        out.push(x);
    }
    Ok(out)
}

/// The first `n` characters of `s` (a recorded value may hold any character).
pub fn first_chars(s: &str, n: usize) -> &str {
    let end = s.char_indices().nth(n).map_or(s.len(), |(i, _)| i);
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_are_cut_by_characters_not_bytes() {
        assert_eq!(first_chars("xxxxxxxxxxxé1", 12), "xxxxxxxxxxxé");
        assert_eq!(first_chars("ab", 12), "ab");
    }

    #[test]
    fn reads_exchanges_and_tolerates_a_cut_last_line() {
        let text = "{\"sigtap_recording\":1}\n{\"id\":1,\"request\":{\"method\":\"GET\",\"target\":\"/b/k\",\"headers\":[[\"Host\",\"h\"]],\"body\":{\"size\":0,\"sha256\":null}},\"response\":{\"status\":200,\"headers\":[],\"body\":{\"size\":2,\"sha256\":\"8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4\",\"base64\":\"aGk=\"}}}\n{\"id\":2,\"requ";
        let xs = parse(text).unwrap();
        assert_eq!(xs.len(), 1);
        assert_eq!(xs[0].line, 2);
        assert_eq!(
            xs[0].response.body.load(Path::new(".")).unwrap().unwrap(),
            b"hi"
        );
        assert!(parse("{\"sigtap_recording\":2}\n")
            .unwrap_err()
            .contains("format 2"));
        assert!(parse("{\"sigtap_recording\":1}\nnot json\n{}\n")
            .unwrap_err()
            .contains("line 2"));
    }

    #[test]
    fn body_files_stay_inside_the_folder() {
        let b = BodyRef {
            size: 3,
            file: Some("../etc/passwd".into()),
            ..BodyRef::default()
        };
        assert!(b.source(Path::new("/tmp")).is_err());
    }
}
