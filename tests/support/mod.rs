//! What the tests that run an example process share: building the example and running it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>/examples/<name>`. `cargo test` builds the examples with the test targets,
/// but not when it runs one test file alone (`--test NAME`): build it then.
pub fn example(name: &str) -> PathBuf {
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args(["build", "--example", name, "--manifest-path"]);
    cargo.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    if !cfg!(debug_assertions) {
        cargo.arg("--release");
    }
    let status = cargo.status().unwrap();
    assert!(
        status.success(),
        "cannot build the example {name}: {status}"
    );
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} is not built", bin.display());
    bin
}

/// Runs `c` to its end and returns its stdout and stderr; a failed run fails the test.
pub fn run(mut c: Command) -> String {
    let o = c.output().unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "the example failed:\n{text}");
    text
}
