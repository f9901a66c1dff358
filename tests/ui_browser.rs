//! The web view in a real browser: Debian's chromium, headless, driven by selenium
//! (`tests/clients/ui_browser.py`) while real boto3 sends requests through `sigtap proxy --ui`
//! to s3s-fs, which verifies every signature. Then the embedded default (no upstream) is filled
//! with 10 000 requests to check that the list stays fast. See the script for what is asserted.
//!
//! The screenshot goes to `target/ui-browser.png`; `SIGTAP_UPDATE_SCREENSHOT=1` also copies it
//! to `docs/ui.png` (the README's picture). Chromium, its driver and the browser venv come
//! from `scripts/tools.sh`; without them the test fails, unless `SIGTAP_SKIP_BROWSER=1` is set
//! outside CI (then it says loudly that it did not run).
#![allow(clippy::disallowed_methods)]

mod common;
use common::real::{root, start_s3s, tools, AK, SK};
use common::ui::start_ui_proxy;
use std::path::PathBuf;

const CHROMIUM: &str = "/usr/bin/chromium";
const DRIVER: &str = "/usr/bin/chromedriver";

/// The browser venv's python, when chromium and its driver are installed too.
fn browser() -> Option<PathBuf> {
    let python = root().join("target/tools/browser/bin/python");
    let missing: Vec<String> = [python.clone(), CHROMIUM.into(), DRIVER.into()]
        .into_iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return Some(python);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if std::env::var("SIGTAP_SKIP_BROWSER").is_ok_and(|v| v == "1") && !ci {
        eprintln!(
            "SKIPPED: the web view's browser test did not run ({} missing) because SIGTAP_SKIP_BROWSER=1",
            missing.join(", ")
        );
        return None;
    }
    panic!(
        "the web view's browser test needs {}: run scripts/tools.sh (it installs Debian's chromium and \
         chromium-driver and the pinned selenium venv), or set SIGTAP_SKIP_BROWSER=1 to skip it outside CI",
        missing.join(", ")
    );
}

#[test]
fn the_web_view_in_a_real_browser() {
    let Some(python) = browser() else { return };
    let Some(t) = tools() else { return };
    let (_s3s, port, _data) = start_s3s(&t);
    let upstream = format!("http://127.0.0.1:{port}");
    let proxy = start_ui_proxy(&[
        "proxy",
        "--upstream",
        &upstream,
        "--port",
        "0",
        "--log-format",
        "json",
        "--access-key",
        AK,
        "--secret-key",
        SK,
        "--ui",
        "127.0.0.1:0",
    ]);
    let logs = common::real::tempdir::Dir::new("ui-bulk");
    let log = logs.0.join("log.jsonl");
    let bulk = start_ui_proxy(&[
        "proxy",
        "--port",
        "0",
        "--ui",
        "127.0.0.1:0",
        "--log-file",
        log.to_str().unwrap(),
    ]);
    let shot = root().join("target/ui-browser.png");
    let _ = std::fs::remove_file(&shot);
    let started = std::time::Instant::now();
    let out = std::process::Command::new(&python)
        .arg(root().join("tests/clients/ui_browser.py"))
        .args([
            &proxy.url,
            &format!("http://{}", proxy.addr),
            AK,
            SK,
            "ui-bucket",
        ])
        .arg(&shot)
        .args([&bulk.url, &format!("http://{}", bulk.addr)])
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("SE_AVOID_STATS", "true")
        .env("SE_OFFLINE", "true")
        .output()
        .expect("run tests/clients/ui_browser.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "{text}\nbrowser test took {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert!(out.status.success(), "the browser test failed:\n{text}");
    assert!(text.trim_end().ends_with("OK"), "{text}");
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "not a real screenshot"
    );
    if std::env::var("SIGTAP_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        std::fs::copy(&shot, root().join("docs/ui.png"))
            .expect("copy the screenshot to docs/ui.png");
    }
    // the proxy's own log agrees with what the page listed
    let records = common::real::records(&common::real::Sigtap {
        proc: common::real::Proc(std::process::Command::new("true").spawn().unwrap()),
        addr: proxy.addr.clone(),
        lines: proxy.lines.clone(),
    });
    assert_eq!(records.len(), 6, "{records:?}");
}
