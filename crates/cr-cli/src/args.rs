//! Command-line arguments.
//!
//! Each subcommand takes only the options it uses (its `--help` lists exactly those). For
//! scripts written against earlier versions, the options may also come before the subcommand
//! (`cr --config a.yaml reserve`); they are not listed there, and one the subcommand does not
//! use is a usage error. [`Cli::resolve`] merges both places into one [`Global`].

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "Exit codes: 0 ok, 2 invalid configuration or usage, 3 no capacity or quota anywhere, \
4 unauthorized, 5 a rollback or cancel failed (reservations still held: the message lists them), \
6 the preflight found that reserving cannot work (cr doctor, cr reserve --preflight), \
130 interrupted (everything released), 1 anything else.";

/// Reserve cloud compute capacity before a test cluster is provisioned, and release it after.
#[derive(Debug, Parser)]
#[command(
    name = "cr",
    version,
    about,
    after_help = "Examples:\n  cr plan --config test_default.yaml --config gce_config.yaml --config my-test.yaml\n  cr reserve --emulator --config examples/gce-demo.yaml\n  cr cleanup --backend aws --test-id 5b0c1a52-...\n\nLog lines: -v (info), -vv (debug), or CR_LOG (a tracing filter such as `cr_core=debug`).\nGuides: docs/clouds/<cloud>.md."
)]
pub struct Cli {
    #[command(flatten)]
    pub verbosity: Verbosity,
    #[command(flatten)]
    pub before: Before,
    #[command(subcommand)]
    pub command: Command,
}

/// How much `cr` says on stderr.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct Verbosity {
    /// Only errors on stderr: no progress, no notes, no warnings.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More on stderr: log lines at info (-v), debug (-vv) or trace (-vvv) level.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

/// The options given before the subcommand (hidden; see the module docs).
#[derive(Debug, Default, Args)]
pub struct Before {
    #[arg(long = "config", short = 'c', value_name = "FILE", hide = true)]
    pub config: Vec<PathBuf>,
    #[arg(long, value_enum, hide = true)]
    pub output: Option<Output>,
    #[arg(long, value_name = "URL", hide = true)]
    pub endpoint: Option<String>,
    #[arg(long, value_name = "FILE", hide = true)]
    pub ca_bundle: Option<PathBuf>,
    #[arg(long = "reserve-timeout", value_name = "SECONDS", hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub reserve_timeout: Option<u64>,
    #[arg(long, hide = true)]
    pub emulator: bool,
    #[arg(long = "emulator-scenario", value_name = "FILE", hide = true)]
    pub emulator_scenario: Option<PathBuf>,
}

/// `--config`.
#[derive(Debug, Default, Args)]
pub struct ConfigArgs {
    /// An SCT-style YAML configuration file; repeat to layer files (later files win).
    #[arg(long = "config", short = 'c', value_name = "FILE")]
    pub config: Vec<PathBuf>,
}

/// `--output`.
#[derive(Debug, Default, Args)]
pub struct OutputArg {
    /// Output format (json: a versioned document on stdout, failures included; docs/json.md).
    #[arg(long, value_enum)]
    pub output: Option<Output>,
}

/// Where cloud calls go.
#[derive(Debug, Default, Args)]
pub struct CloudArgs {
    /// Send every cloud API call of the selected backend to this base URL (e.g. an emulator).
    #[arg(long, env = "CR_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,

    /// Extra CA certificates (PEM) to trust, e.g. the emulator's `ca.pem`.
    #[arg(long, env = "CR_CA_BUNDLE", value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,

    /// Start an embedded emulator of the four clouds (demo scenario, or --emulator-scenario)
    /// and use it: no cloud account needed.
    #[arg(long)]
    pub emulator: bool,

    /// With --emulator: the emulator scenario file (YAML or JSON).
    #[arg(long = "emulator-scenario", value_name = "FILE")]
    pub emulator_scenario: Option<PathBuf>,
}

/// `--reserve-timeout`.
#[derive(Debug, Default, Args)]
pub struct TimeoutArg {
    /// The longest a reserve may take, in seconds, before it gives up and releases everything
    /// (default 1800).
    #[arg(long = "reserve-timeout", env = "CR_RESERVE_TIMEOUT", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub reserve_timeout: Option<u64>,
}

/// Everything a command runs with, wherever on the command line it was given.
#[derive(Debug, Default)]
pub struct Global {
    pub config: Vec<PathBuf>,
    pub output: Output,
    pub endpoint: Option<String>,
    pub ca_bundle: Option<PathBuf>,
    pub reserve_timeout: Option<u64>,
    pub emulator: bool,
    pub emulator_scenario: Option<PathBuf>,
    pub verbosity: Verbosity,
}

/// Output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    #[default]
    Text,
    /// For programs.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what would be reserved, where and until when (offline: no cloud call).
    #[command(after_help = after(
        "cr plan --config test_default.yaml --config gce_config.yaml --config my-test.yaml\n  cr plan --output json --config ... | jq .regions",
    ))]
    Plan(PlanArgs),
    /// Reserve everything the configuration demands, all or nothing.
    #[command(after_help = after(
        "cr reserve --config test_default.yaml --config aws_config.yaml --config my-test.yaml\n  cr reserve --emulator --config examples/gce-demo.yaml\n  cr reserve --output json --config ... > reservations.json\n\nProgress is drawn on stderr when it is a terminal; Ctrl-C or SIGTERM stops and releases everything (exit 130).",
    ))]
    Reserve(ReserveArgs),
    /// Check, without creating anything, whether reserving can work: credentials,
    /// permissions, the types' offerings in the zones, and quota headroom.
    #[command(after_help = after(
        "cr doctor --config test_default.yaml --config gce_config.yaml --config my-test.yaml\n  cr doctor --emulator --config examples/aws-demo.yaml\n  cr doctor --output json --config ... | jq '.findings[] | select(.status == \"fail\")'\n\nOne line per finding: ✓ passed, ✗ failed, ? not checkable (ok / FAIL / ?? off a terminal or with NO_COLOR).\nExit 0 only if reserving can work; 6 when a check failed.",
    ))]
    Doctor(CloudCommandArgs),
    /// Show the test's reservations as the cloud reports them.
    #[command(after_help = after("cr status --config ...\n  cr status --output json --config ..."))]
    Status(CloudCommandArgs),
    /// Cancel every reservation of the test in the configuration's regions.
    #[command(after_help = after("cr cancel --config ..."))]
    Cancel(CloudCommandArgs),
    /// Cancel every reservation tagged with a test id, in every region of the account.
    #[command(after_help = after(
        "cr cleanup --backend aws --test-id 5b0c1a52-...\n  cr cleanup --backend gce --test-id 5b0c1a52-... --output json\n  cr cleanup --backend azure --test-id 5b0c1a52-... --dry-run",
    ))]
    Cleanup(CleanupArgs),
    /// List the reservations cr created, in every region and for every test, that are
    /// orphaned (past their end time, or by --older-than, --unused-for, --finished-test);
    /// --cancel releases them. Reservations cr did not create are never listed or touched.
    #[command(after_help = after(
        "cr orphans --backend aws
  cr orphans --backend gce --older-than 6h --unused-for 15m
  cr orphans --backend azure --finished-test 5b0c1a52-... --cancel
  cr orphans --backend oci --unused-for 15m --all --output json

An orphan is listed with every rule it matches: past_end_time (always checked), older_than, unused, test_finished.
Exit 0 whether or not orphans were found; with --cancel, 5 when a cancel failed (each one is named).",
    ))]
    Orphans(OrphansArgs),
    /// Print the cloud permissions a backend needs, as a policy document.
    #[command(after_help = after(
        "cr permissions --backend aws --output json > cr-policy.json\n  cr permissions --backend gce",
    ))]
    Permissions(PermissionsArgs),
    /// Run the local emulator of the four cloud APIs until interrupted.
    #[command(after_help = after(
        "cr emulator --port 8787 --write-credentials /tmp/cr-emu   # then: source /tmp/cr-emu/env.sh",
    ))]
    Emulator(EmulatorArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Examples:\n  cr completions bash > ~/.local/share/bash-completion/completions/cr\n  cr completions zsh > \"${fpath[1]}/_cr\"\n  cr completions fish > ~/.config/fish/completions/cr.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the manual page (roff), generated from these definitions.
    #[command(after_help = "Examples:\n  cr man > cr.1 && man ./cr.1")]
    Man,
}

/// A subcommand's `--help` epilogue: its examples and the exit codes.
fn after(examples: &str) -> String {
    format!("Examples:\n  {examples}\n\n{EXIT_CODES}")
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub output: OutputArg,
    #[command(flatten)]
    pub backend: BackendArg,
}

#[derive(Debug, Args)]
pub struct ReserveArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub output: OutputArg,
    #[command(flatten)]
    pub backend: BackendArg,
    #[command(flatten)]
    pub cloud: CloudArgs,
    #[command(flatten)]
    pub timeout: TimeoutArg,
    /// Run `cr doctor`'s checks first and stop with their findings (exit 6) unless reserving
    /// can work.
    #[arg(long)]
    pub preflight: bool,
}

#[derive(Debug, Args)]
pub struct CloudCommandArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub output: OutputArg,
    #[command(flatten)]
    pub backend: BackendArg,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

#[derive(Debug, Args)]
pub struct BackendArg {
    /// Use this backend instead of the configuration's `cluster_backend`.
    #[arg(long)]
    pub backend: Option<String>,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// The backend (aws, gce, azure, oci).
    #[arg(long)]
    pub backend: String,
    /// The test id the reservations are tagged with.
    #[arg(long = "test-id", value_parser = non_empty)]
    pub test_id: String,
    /// Only list what would be cancelled (and which regions' resources removed), in every
    /// region, without changing anything.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Settings of the backend (e.g. `gce_project`), read as by the other commands.
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub output: OutputArg,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

#[derive(Debug, Args)]
pub struct OrphansArgs {
    /// The backend (aws, gce, azure, oci).
    #[arg(long)]
    pub backend: String,
    /// Also an orphan: created longer ago than this (e.g. 6h, 90m, 2d, 1h30m).
    #[arg(long = "older-than", value_name = "DURATION", value_parser = duration)]
    pub older_than: Option<std::time::Duration>,
    /// Also an orphan: no instance in it (as the cloud reports) and created longer ago than
    /// this (e.g. 15m).
    #[arg(long = "unused-for", value_name = "DURATION", value_parser = duration)]
    pub unused_for: Option<std::time::Duration>,
    /// Also an orphan: a reservation of this test, which is over (repeat for several tests).
    #[arg(long = "finished-test", value_name = "TEST_ID", value_parser = non_empty)]
    pub finished_test: Vec<String>,
    /// Also list the reservations cr created that are not orphans.
    #[arg(long)]
    pub all: bool,
    /// Cancel the orphans (never the others) and report each outcome.
    #[arg(long)]
    pub cancel: bool,
    /// Settings of the backend (e.g. `gce_project`), read as by the other commands.
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub output: OutputArg,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

#[derive(Debug, Args)]
pub struct PermissionsArgs {
    /// The backend (aws, gce, azure, oci).
    #[arg(long)]
    pub backend: String,
    /// Output format (text: one permission per line; json: the document, ready to apply).
    #[arg(long, value_enum)]
    pub output: Option<Output>,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// HTTP port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// HTTPS port on 127.0.0.1 (0 = any free port).
    #[arg(long = "tls-port", default_value_t = 0)]
    pub tls_port: u16,
    /// Scenario file (YAML or JSON); default: every zone well stocked.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Write credentials for all four clouds, the CA and `env.sh` into this directory.
    #[arg(long = "write-credentials", value_name = "DIR")]
    pub write_credentials: Option<PathBuf>,
    /// json: one line with the listeners and files, as soon as it serves.
    #[arg(long, value_enum)]
    pub output: Option<Output>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// A value that is not empty: reservations are found by it.
fn non_empty(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err("must not be empty: reservations are found by their TestId tag".into())
    } else {
        Ok(value.to_string())
    }
}

/// A duration such as `90s`, `15m`, `6h`, `2d` or `1h30m`.
fn duration(value: &str) -> Result<std::time::Duration, String> {
    cr_core::orphans::parse_duration(value)
}

/// What a subcommand takes, for merging the options given before it.
#[derive(Default)]
struct Takes<'a> {
    config: Option<&'a ConfigArgs>,
    output: Option<Option<Output>>,
    cloud: Option<&'a CloudArgs>,
    timeout: Option<&'a TimeoutArg>,
}

impl Cli {
    /// The subcommand's name, as typed.
    pub fn name(&self) -> &'static str {
        match &self.command {
            Command::Plan(_) => "plan",
            Command::Reserve(_) => "reserve",
            Command::Doctor(_) => "doctor",
            Command::Status(_) => "status",
            Command::Cancel(_) => "cancel",
            Command::Cleanup(_) => "cleanup",
            Command::Orphans(_) => "orphans",
            Command::Permissions(_) => "permissions",
            Command::Emulator(_) => "emulator",
            Command::Completions(_) => "completions",
            Command::Man => "man",
        }
    }

    /// The output format asked for, wherever it was given (for reporting a usage error).
    pub fn output(&self) -> Output {
        self.resolve().map(|(g, _)| g.output).unwrap_or_default()
    }

    /// Merges the options given before the subcommand with the subcommand's own (which win);
    /// an option before it that the subcommand does not take is a usage error.
    pub fn resolve(&self) -> Result<(Global, &Command), String> {
        let takes = match &self.command {
            Command::Plan(a) => Takes {
                config: Some(&a.config),
                output: Some(a.output.output),
                ..Takes::default()
            },
            Command::Reserve(a) => Takes {
                config: Some(&a.config),
                output: Some(a.output.output),
                cloud: Some(&a.cloud),
                timeout: Some(&a.timeout),
            },
            Command::Status(a) | Command::Cancel(a) | Command::Doctor(a) => Takes {
                config: Some(&a.config),
                output: Some(a.output.output),
                cloud: Some(&a.cloud),
                ..Takes::default()
            },
            Command::Cleanup(a) => Takes {
                config: Some(&a.config),
                output: Some(a.output.output),
                cloud: Some(&a.cloud),
                ..Takes::default()
            },
            Command::Orphans(a) => Takes {
                config: Some(&a.config),
                output: Some(a.output.output),
                cloud: Some(&a.cloud),
                ..Takes::default()
            },
            Command::Permissions(a) => Takes {
                output: Some(a.output),
                ..Takes::default()
            },
            Command::Emulator(a) => Takes {
                output: Some(a.output),
                ..Takes::default()
            },
            Command::Completions(_) | Command::Man => Takes::default(),
        };
        let b = &self.before;
        let mut unused = Vec::new();
        if !b.config.is_empty() && takes.config.is_none() {
            unused.push("--config");
        }
        if b.output.is_some() && takes.output.is_none() {
            unused.push("--output");
        }
        if takes.cloud.is_none() {
            if b.endpoint.is_some() {
                unused.push("--endpoint");
            }
            if b.ca_bundle.is_some() {
                unused.push("--ca-bundle");
            }
            if b.emulator {
                unused.push("--emulator");
            }
            if b.emulator_scenario.is_some() {
                unused.push("--emulator-scenario");
            }
        }
        if b.reserve_timeout.is_some() && takes.timeout.is_none() {
            unused.push("--reserve-timeout");
        }
        if !unused.is_empty() {
            return Err(format!(
                "`cr {}` does not take {} (see `cr {} --help`)",
                self.name(),
                unused.join(", "),
                self.name()
            ));
        }
        let cloud = takes.cloud;
        let global = Global {
            config: b
                .config
                .iter()
                .chain(takes.config.map(|c| c.config.iter()).into_iter().flatten())
                .cloned()
                .collect(),
            output: takes.output.flatten().or(b.output).unwrap_or_default(),
            endpoint: cloud
                .and_then(|c| c.endpoint.clone())
                .or_else(|| b.endpoint.clone()),
            ca_bundle: cloud
                .and_then(|c| c.ca_bundle.clone())
                .or_else(|| b.ca_bundle.clone()),
            reserve_timeout: takes
                .timeout
                .and_then(|t| t.reserve_timeout)
                .or(b.reserve_timeout),
            emulator: cloud.is_some_and(|c| c.emulator) || b.emulator,
            emulator_scenario: cloud
                .and_then(|c| c.emulator_scenario.clone())
                .or_else(|| b.emulator_scenario.clone()),
            verbosity: self.verbosity,
        };
        if global.emulator_scenario.is_some() && !global.emulator {
            return Err("--emulator-scenario needs --emulator".into());
        }
        Ok((global, &self.command))
    }
}
