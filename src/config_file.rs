//! `sigtap proxy --config FILE`: a TOML file whose keys are the proxy's flag names
//! (`upstream = "https://…"`, `resign = "always"`, `serve-host = ["a", "b"]`, `threads = 4`,
//! `json`-style booleans for switches). It becomes command-line arguments placed before the
//! real ones; a flag given on the command line replaces the file's value (lists included). An
//! unknown key, a nested table or a value of the wrong kind is an error naming the key.

use std::ffi::OsString;

/// The most a configuration file may hold.
const LIMIT: u64 = 1024 * 1024;

/// The arguments with `--config FILE`'s settings spliced in after the `proxy` subcommand, or
/// why the file cannot be used.
pub fn expand(args: Vec<OsString>, proxy: &clap::Command) -> Result<Vec<OsString>, String> {
    let Some(sub) = args.iter().position(|a| a == "proxy") else {
        return Ok(args);
    };
    // --config FILE or --config=FILE after the subcommand
    let mut path = None;
    let mut rest = Vec::new();
    let mut i = sub + 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "--config" {
            let v = args
                .get(i + 1)
                .ok_or("--config needs a FILE (a TOML file of the proxy's flags)")?;
            path = Some(std::path::PathBuf::from(v));
            i += 2;
            continue;
        }
        if let Some(v) = a.strip_prefix("--config=") {
            path = Some(std::path::PathBuf::from(v));
            i += 1;
            continue;
        }
        if a == "--" {
            rest.extend(args[i..].iter().cloned());
            break;
        }
        rest.push(args[i].clone());
        i += 1;
    }
    let Some(path) = path else {
        return Ok(args);
    };
    let shown = path.display().to_string();
    let text = read_limited(&path).map_err(|e| format!("--config {shown}: {e}"))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("--config {shown}: not TOML: {}", e.message()))?;
    let given: Vec<String> = rest
        .iter()
        .filter_map(|a| a.to_str())
        .filter_map(|a| a.strip_prefix("--"))
        .map(|a| a.split('=').next().unwrap_or(a).to_string())
        .collect();
    let mut from_file: Vec<OsString> = Vec::new();
    for (key, value) in &table {
        let name = key.replace('_', "-");
        let arg = proxy
            .get_arguments()
            .find(|a| a.get_long() == Some(name.as_str()) && name != "config" && name != "help")
            .ok_or_else(|| {
                format!("--config {shown}: unknown key {key:?} (the keys are `sigtap proxy` flag names, such as upstream, resign, serve-host)")
            })?;
        if given.contains(&name) {
            continue; // the command line wins
        }
        let takes_value = arg.get_action().takes_values();
        let flag = format!("--{name}");
        let scalar = |v: &toml::Value| -> Result<String, String> {
            match v {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(n) => Ok(n.to_string()),
                toml::Value::Float(f) => Ok(f.to_string()),
                toml::Value::Boolean(b) => Ok(b.to_string()),
                _ => Err(format!(
                    "--config {shown}: {key} must be a string, number or boolean"
                )),
            }
        };
        match (value, takes_value) {
            (toml::Value::Boolean(true), false) => from_file.push(flag.into()),
            (toml::Value::Boolean(false), false) => {}
            (_, false) => {
                return Err(format!(
                    "--config {shown}: {key} is a switch: write {key} = true"
                ))
            }
            (toml::Value::Array(items), true) => {
                for item in items {
                    from_file.push(flag.clone().into());
                    from_file.push(scalar(item)?.into());
                }
            }
            (toml::Value::Table(_), true) => {
                return Err(format!("--config {shown}: {key} cannot be a table"))
            }
            (v, true) => {
                from_file.push(flag.into());
                from_file.push(scalar(v)?.into());
            }
        }
    }
    let mut out: Vec<OsString> = args[..=sub].to_vec();
    out.extend(from_file);
    out.extend(rest);
    Ok(out)
}

fn read_limited(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    if !f.metadata().map_err(|e| e.to_string())?.is_file() {
        return Err("not a regular file".into());
    }
    let mut text = String::new();
    f.take(LIMIT + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > LIMIT {
        return Err("larger than 1 MiB".into());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn run(file: &str, cli: &[&str]) -> Result<Vec<String>, String> {
        let dir = std::env::temp_dir().join(format!(
            "sigtap-config-{}-{}",
            std::process::id(),
            file.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, file).unwrap();
        let mut args: Vec<OsString> = vec!["sigtap".into(), "proxy".into()];
        args.extend(cli.iter().map(OsString::from));
        args.push("--config".into());
        args.push(path.clone().into());
        let cmd = crate::cli::Cli::command();
        let proxy = cmd.find_subcommand("proxy").unwrap();
        let out = expand(args, proxy);
        let _ = std::fs::remove_dir_all(&dir);
        out.map(|v| v.iter().map(|a| a.to_string_lossy().into_owned()).collect())
    }

    #[test]
    fn keys_become_flags_and_the_command_line_wins() {
        let got = run(
            "upstream = \"http://127.0.0.1:9000\"\nresign = \"always\"\nserve_host = [\"a\", \"b\"]\nthreads = 2\ntls = false\n",
            &["--resign", "auto"],
        )
        .unwrap();
        assert_eq!(
            got,
            [
                "sigtap",
                "proxy",
                "--serve-host",
                "a",
                "--serve-host",
                "b",
                "--threads",
                "2",
                "--upstream",
                "http://127.0.0.1:9000",
                "--resign",
                "auto"
            ]
        );
        // the result parses as the proxy's flags
        use clap::Parser;
        assert!(crate::cli::Cli::try_parse_from(&got).is_ok());
    }

    #[test]
    fn unknown_keys_and_wrong_kinds_are_named() {
        let e = run("upstreem = \"x\"\n", &[]).unwrap_err();
        assert!(e.contains("unknown key \"upstreem\""), "{e}");
        let e = run("[upstream]\nx = 1\n", &[]).unwrap_err();
        assert!(e.contains("upstream cannot be a table"), "{e}");
        let e = run("upstream = [[1]]\n", &[]).unwrap_err();
        assert!(e.contains("upstream must be"), "{e}");
        let e = run("upstream = \n", &[]).unwrap_err();
        assert!(e.contains("not TOML"), "{e}");
        let e = run("config = \"other.toml\"\n", &[]).unwrap_err();
        assert!(e.contains("unknown key \"config\""), "{e}");
    }
}
