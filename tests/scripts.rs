//! The README's test command on a fresh machine: `scripts/tools.sh` (run first by
//! `scripts/test.sh`) installs the Debian packages the tests drive, or, when this user cannot,
//! stops before anything else with one line saying how.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

fn which(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not on this machine");
}

#[test]
fn tools_sh_says_in_one_line_how_to_install_a_missing_package() {
    let dir = std::env::temp_dir().join(format!("sigtap-scripts-{}", std::process::id()));
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // a PATH with the shell's basics and no rclone; a user who is not root, without sudo rights
    for tool in ["bash", "dirname", "mkdir", "env", "cat", "sha256sum", "cut"] {
        let _ = symlink(which(tool), bin.join(tool));
    }
    std::fs::write(bin.join("id"), "#!/bin/sh\necho 1000\n").unwrap();
    std::fs::write(bin.join("sudo"), "#!/bin/sh\nexit 1\n").unwrap();
    for f in ["id", "sudo"] {
        Command::new("/bin/chmod")
            .arg("+x")
            .arg(bin.join(f))
            .status()
            .unwrap();
    }
    let out = Command::new(which("bash"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tools.sh"))
        .env_clear()
        .env("PATH", &bin)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {err}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(
        lines[0].contains("rclone") && lines[0].contains("apt-get install -y rclone"),
        "{err}"
    );
    assert!(
        !stdout.contains("creating"),
        "it went on to install: {stdout}"
    );
}
