//! Build and check tasks for the cr workspace: `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks — formatting, clippy with `-D warnings`, the tests of the
//!   whole workspace (all features), and the facade built and registry-tested with each
//!   backend feature alone (and with none).
//! - `fmt`, `clippy`, `test`, `features`: the steps of `ci` one at a time.
//! - `sdk-check`: the emulator driven by the clouds' official Python SDKs
//!   (`crates/cr-emulator/sdk-check`); needs a Python with its `requirements.txt` installed,
//!   taken from `CR_PYTHON` (default `python3`). `.ci/run` installs it into a venv and runs it.
//! - `python`: the Python package's tests (`--maturin`: built with maturin develop).
//! - `soak`: the long fault soak; `bench [backend...]`: the benchmark harness
//!   (docs/RELIABILITY.md, docs/BENCHMARKS.md).

use std::path::{Path, PathBuf};
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
        "sdk-check" => return sdk_check(),
        "python" => return python_package(),
        "soak" => match std::env::args()
            .skip(2)
            .find(|b| !BACKENDS.contains(&b.as_str()))
        {
            Some(unknown) => {
                eprintln!("xtask soak: unknown backend {unknown:?} (one of {BACKENDS:?})");
                return ExitCode::from(2);
            }
            None => soak(),
        },
        "bench" => bench(),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci|fmt|clippy|test|features|sdk-check|python|soak|bench [backend...]>"
            );
            return ExitCode::from(2);
        }
    };
    run_steps(&task, &steps)
}

fn run_steps(task: &str, steps: &[Step]) -> ExitCode {
    let total = Instant::now();
    for Step { program, args, env } in steps {
        let started = Instant::now();
        eprintln!("xtask: $ {program} {}", args.join(" "));
        match Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(root())
            .status()
        {
            Ok(s) if s.success() => {
                eprintln!("xtask: ok in {:.0?}", started.elapsed());
            }
            Ok(s) => {
                eprintln!("xtask: FAILED ({s}): {program} {}", args.join(" "));
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("xtask: cannot run {program}: {e}");
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

/// The workspace root: every step runs there, wherever `cargo xtask` was called from.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
}

/// One command of a task.
#[derive(Debug, Clone)]
struct Step {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Step {
    fn new(program: String, args: &[&str]) -> Self {
        let args = args.iter().map(|s| s.to_string()).collect();
        Step {
            program,
            args,
            env: Vec::new(),
        }
    }

    /// The step with environment variable `key` set to `value`.
    fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }
}

/// A cargo command (`CARGO`, as cargo sets it for `cargo xtask`).
fn step(args: &[&str]) -> Step {
    Step::new(
        std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
        args,
    )
}

/// A Python command (`CR_PYTHON`, default `python3`).
fn python(args: &[&str]) -> Step {
    Step::new(
        std::env::var("CR_PYTHON").unwrap_or_else(|_| "python3".into()),
        args,
    )
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
    // A slim `cr` without the emulator builds, and says how to get it (GCE alone: no
    // aws-sdk-ec2 build).
    steps.push(step(&[
        "test",
        "-p",
        "cr-cli",
        "--no-default-features",
        "--features",
        "gce",
        "--test",
        "cli",
    ]));
    steps
}

/// The benchmark harness (tests/src/bench.rs) for the named backends (default: all four), one
/// after the other so their timings do not share the machine; each writes its table to
/// `target/bench/<backend>.md` (docs/BENCHMARKS.md). Built like the workspace tests.
/// `CR_BENCH_ONLY=fifty` runs only the 50-engines-at-once figure (tests/src/many.rs).
fn bench() -> Vec<Step> {
    let named: Vec<String> = std::env::args().skip(2).collect();
    BACKENDS
        .iter()
        .filter(|b| named.is_empty() || named.iter().any(|n| n == *b))
        .map(|backend| {
            step(&[
                "test",
                "--workspace",
                "--all-features",
                "--test",
                backend,
                "--",
                "--ignored",
                "--exact",
                "bench",
                "--nocapture",
            ])
        })
        .collect()
}

/// The long fault soak: every backend's `fault_soak` contract check with
/// `CR_SOAK_CYCLES` cycles (default 2,000; the workspace tests run 100), tally printed.
/// `cargo xtask soak gce oci` soaks only those backends; only `aws` builds the `aws` feature
/// (aws-sdk-ec2).
fn soak() -> Vec<Step> {
    let cycles = std::env::var("CR_SOAK_CYCLES").unwrap_or_else(|_| "2000".into());
    let only: Vec<String> = std::env::args().skip(2).collect();
    BACKENDS
        .iter()
        .filter(|cloud| only.is_empty() || only.iter().any(|o| o == *cloud))
        .filter(|cloud| {
            root()
                .join("tests/tests")
                .join(format!("{cloud}.rs"))
                .exists()
        })
        .map(|cloud| {
            let mut args = vec!["test", "-p", "cr-contract-tests"];
            if *cloud == "aws" {
                args.extend(["--features", "aws"]);
            }
            args.extend(["--test", cloud, "fault_soak", "--", "--nocapture"]);
            step(&args).with_env("CR_SOAK_CYCLES", &cycles)
        })
        .collect()
}

/// The Python package (crates/cr-python), then its pytest suite against `cr emulator` (the `cr`
/// the workspace tests built). pytest's exit 5 ("no tests ran") is a failure of its own, never
/// a pass.
///
/// By default the extension is built by cargo with the workspace's own feature set (`--workspace
/// --all-features --lib --tests`, as an extension module): after `cargo xtask ci` only pyo3 and
/// the package itself compile. `maturin develop` builds it for the package alone, and so
/// resolves the dependencies' features differently and compiles aws-sdk-ec2 once more (about 5
/// minutes on 2 cores); `cargo xtask python --maturin` does that, as a user installing the
/// package would (docs/python.md).
fn python_package() -> ExitCode {
    let total = Instant::now();
    let python = std::env::var("CR_PYTHON").unwrap_or_else(|_| "python3".into());
    let use_maturin = std::env::args().skip(2).any(|a| a == "--maturin");
    // The venv is the interpreter's: <venv>/bin/python.
    let venv = Path::new(&python)
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let cr = target
        .join("debug")
        .join(format!("cr{}", std::env::consts::EXE_SUFFIX));
    let package_dir = root().join("crates/cr-python/python");
    let built = if use_maturin {
        let mut maturin = Command::new(&python);
        maturin
            .args([
                "-m",
                "maturin",
                "develop",
                "--manifest-path",
                "crates/cr-python/Cargo.toml",
            ])
            .current_dir(root());
        if let Some(venv) = &venv {
            maturin.env("VIRTUAL_ENV", venv);
        }
        run_one(
            &format!("{python} -m maturin develop --manifest-path crates/cr-python/Cargo.toml"),
            &mut maturin,
        )
    } else {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let args = ["build", "--workspace", "--all-features", "--lib", "--tests"];
        let mut build = Command::new(&cargo);
        // What maturin sets: the extension does not link libpython, the interpreter provides it.
        build
            .args(args)
            .env("PYO3_BUILD_EXTENSION_MODULE", "1")
            .current_dir(root());
        run_one(
            &format!("PYO3_BUILD_EXTENSION_MODULE=1 {cargo} {}", args.join(" ")),
            &mut build,
        ) && install_extension(&target, &package_dir)
    };
    if !built {
        return ExitCode::from(1);
    }
    if !cr.exists() {
        eprintln!(
            "xtask: {} is missing: the tests serve the emulator with it (run `cargo xtask ci` or `cargo build -p cr-cli` first)",
            cr.display()
        );
        return ExitCode::from(1);
    }
    eprintln!("xtask: $ {python} -m pytest crates/cr-python/tests");
    let started = Instant::now();
    let status = Command::new(&python)
        .args(["-m", "pytest", "-q", "crates/cr-python/tests"])
        .env("CR_BIN", &cr)
        // The package from the checkout (maturin develop points the venv there too).
        .env("PYTHONPATH", &package_dir)
        .current_dir(root())
        .status();
    match status.map(|s| s.code()) {
        Ok(Some(0)) => {
            eprintln!("xtask: ok in {:.0?}", started.elapsed());
            eprintln!("xtask: python: passed in {:.0?}", total.elapsed());
            ExitCode::SUCCESS
        }
        Ok(Some(5)) => {
            eprintln!(
                "xtask: FAILED: pytest collected no tests (exit 5): the package's tests did not run"
            );
            ExitCode::from(1)
        }
        other => {
            eprintln!("xtask: FAILED: pytest ({other:?})");
            ExitCode::from(1)
        }
    }
}

/// Runs one command of a task, saying what it runs and how it ended.
fn run_one(shown: &str, command: &mut Command) -> bool {
    eprintln!("xtask: $ {shown}");
    let started = Instant::now();
    match command.status() {
        Ok(s) if s.success() => {
            eprintln!("xtask: ok in {:.0?}", started.elapsed());
            true
        }
        other => {
            eprintln!("xtask: FAILED: {shown} ({other:?})");
            false
        }
    }
}

/// Puts the extension cargo built where the package imports it from (`cr/_native.abi3.so`, as
/// `maturin develop` does; ignored by git).
fn install_extension(target: &Path, package_dir: &Path) -> bool {
    let (prefix, suffix) = (std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let built = target
        .join("debug")
        .join(format!("{prefix}_native{suffix}"));
    let installed = package_dir.join("cr").join(if cfg!(windows) {
        "_native.pyd"
    } else {
        "_native.abi3.so"
    });
    match std::fs::copy(&built, &installed) {
        Ok(_) => {
            eprintln!(
                "xtask: installed {} as {}",
                built.display(),
                installed.display()
            );
            true
        }
        Err(e) => {
            eprintln!(
                "xtask: FAILED: cannot copy {} to {}: {e}",
                built.display(),
                installed.display()
            );
            false
        }
    }
}

/// Builds `cr` exactly as the workspace tests do (same features, so nothing is rebuilt after
/// `cargo xtask ci`), then runs the SDK checks against it.
fn sdk_check() -> ExitCode {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let cr = target
        .join("debug")
        .join(format!("cr{}", std::env::consts::EXE_SUFFIX));
    let cr = cr.display().to_string();
    let steps = vec![
        step(&["test", "--workspace", "--all-features", "--no-run"]),
        python(&["crates/cr-emulator/sdk-check/check.py", "--cr", cr.as_str()]),
    ];
    run_steps("sdk-check", &steps)
}
