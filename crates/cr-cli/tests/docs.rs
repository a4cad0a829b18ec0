//! Every `cr` command line in the README and docs/ parses: each is run with `--help` appended,
//! so clap checks its subcommand, options and values (an option renamed or moved away from a
//! subcommand fails here) without touching a cloud.

use std::path::{Path, PathBuf};
use std::process::Command;

fn markdown_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![root.join("README.md")];
    let mut dirs = vec![root.join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The arguments of each `cr` command in the fenced code blocks of `text` (after `$ `, and
/// after `cargo run ... --`), cut at the first shell operator or comment.
fn commands(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code {
            continue;
        }
        let line = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
        let rest = if let Some(rest) = line.strip_prefix("cr ") {
            rest
        } else if line.starts_with("cargo run") && line.contains(" -p cr-cli") {
            match line.split_once(" -- ") {
                Some((_, rest)) => rest,
                None => continue,
            }
        } else {
            continue;
        };
        let end = [" #", ";", "|", ">", "&&", " &"]
            .iter()
            .filter_map(|op| rest.find(op))
            .min()
            .unwrap_or(rest.len());
        let args: Vec<String> = rest[..end]
            .split_whitespace()
            .map(|a| a.trim_matches(['"', '\'']).to_string())
            .collect();
        if !args.is_empty() {
            out.push(args);
        }
    }
    out
}

#[test]
fn every_documented_cr_command_parses() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for args in commands(&text) {
            let out = Command::new(env!("CARGO_BIN_EXE_cr"))
                .args(&args)
                .arg("--help")
                .env_remove("CR_ENDPOINT")
                .env_remove("CR_CA_BUNDLE")
                .output()
                .expect("cr runs");
            checked += 1;
            if !out.status.success() {
                failures.push(format!(
                    "{}: cr {}\n{}",
                    file.display(),
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    assert!(checked >= 20, "found only {checked} documented commands");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_extractor_reads_console_and_cargo_lines() {
    let text = "```sh\n$ cr status --config a.yaml; echo \"exit $?\"\ncargo run --release -p cr-cli -- reserve --emulator --config x.yaml\ncr completions bash|zsh|fish   # note\n```\ncr outside a block\n";
    assert_eq!(
        commands(text),
        vec![
            vec!["status", "--config", "a.yaml"],
            vec!["reserve", "--emulator", "--config", "x.yaml"],
            vec!["completions", "bash"],
        ]
    );
}
