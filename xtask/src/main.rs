//! Build and check tasks for the cr workspace: `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks — formatting, clippy with `-D warnings`, the tests of the
//!   whole workspace (all features), and the facade built and registry-tested with each
//!   backend feature alone (and with none).
//! - `fmt`, `clippy`, `test`, `features`: the steps of `ci` one at a time.

use std::process::{Command, ExitCode};
use std::time::Instant;

const BACKENDS: [&str; 4] = ["aws", "gce", "azure", "oci"];

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_else(|| "help".into());
    let steps: Vec<Step> = match task.as_str() {
        "ci" => [fmt(), clippy(), test(), features()].concat(),
        "fmt" => fmt(),
        "clippy" => clippy(),
        "test" => test(),
        "features" => features(),
        _ => {
            eprintln!("usage: cargo xtask <ci|fmt|clippy|test|features>");
            return ExitCode::from(2);
        }
    };
    let total = Instant::now();
    for step in &steps {
        let started = Instant::now();
        eprintln!("xtask: $ cargo {}", step.join(" "));
        let status = Command::new(cargo()).args(step).status();
        match status {
            Ok(s) if s.success() => {
                eprintln!("xtask: ok in {:.0?}", started.elapsed());
            }
            Ok(s) => {
                eprintln!("xtask: FAILED ({s}): cargo {}", step.join(" "));
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("xtask: cannot run cargo: {e}");
                return ExitCode::from(1);
            }
        }
    }
    eprintln!(
        "xtask: {task}: all {} steps passed in {:.0?}",
        steps.len(),
        total.elapsed()
    );
    ExitCode::SUCCESS
}

type Step = Vec<String>;

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn step(args: &[&str]) -> Step {
    args.iter().map(|s| s.to_string()).collect()
}

fn fmt() -> Vec<Step> {
    vec![step(&["fmt", "--all", "--", "--check"])]
}

fn clippy() -> Vec<Step> {
    vec![step(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ])]
}

fn test() -> Vec<Step> {
    vec![step(&["test", "--workspace", "--all-features"])]
}

/// The facade with each backend feature alone, and with none: the registry must hold exactly
/// the enabled backends (a feature-gated crate the linker dropped would vanish silently).
fn features() -> Vec<Step> {
    let mut steps = vec![step(&["test", "-p", "cr-facade", "--no-default-features"])];
    for b in BACKENDS {
        steps.push(step(&[
            "test",
            "-p",
            "cr-facade",
            "--no-default-features",
            "--features",
            b,
        ]));
    }
    steps
}
