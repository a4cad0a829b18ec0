//! Crash recovery: `cr reserve` run as a child process against an emulator and stopped at
//! seeded moments while its creates are in flight (long-running operations on), with every
//! outcome checked against the emulator's audit.
//!
//! Four experiments, each over the same seeds ([`crash_recovery`]):
//!
//! - [`Experiment::KillThenCleanup`]: SIGKILL, then `cr cleanup --backend B --test-id T`:
//!   nothing is left active.
//! - [`Experiment::KillThenRerun`]: SIGKILL, then `cr reserve` again with the same
//!   configuration: it reuses or completes what the killed run left and holds exactly the plan
//!   (one live reservation per (region, zone, type), one zone per region); `cr cancel` then
//!   leaves nothing.
//! - [`Experiment::Signal`] with SIGTERM or SIGINT: `cr` rolls back by itself and exits 130
//!   with nothing left active, without any cleanup (or, if the signal came after the reserve
//!   had finished, exits 0 holding exactly the plan).
//!
//! The moment of the stop is drawn from the seed: after the emulator answered the k-th
//! request (during discovery), or some milliseconds after it answered the first create (while
//! creations are pending, being polled, or being rolled back). Before anything is asserted
//! the emulator is left to settle: no reservation pending and no new request for a while, so
//! a create that was on its way when `cr` died is counted.
//!
//! The `cr` binary is `CR_BIN`, else the `cr` next to the test executable's directory
//! (`target/debug/cr`, which `cargo test --workspace` builds; for one backend:
//! `cargo build -p cr-cli --no-default-features --features gce,emulator`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use cr_emulator::AuditRecord;
use futures::StreamExt;

use crate::soak::Draw;
use crate::{ContractTarget, Fixture, Placement, TestConfig, base_scenario, set_capacity};

/// How long the emulator takes to settle each create or delete in these experiments: long
/// enough that a stop drawn within it lands while creations are pending.
pub const CRASH_LRO_MS: u64 = 600;

/// How many seeds run at once (each with its own emulator and test id).
const CONCURRENT_SEEDS: usize = 10;

/// A signal `cr` may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `kill -TERM` (how service managers and CI runners stop a job).
    Term,
    /// `kill -INT` (Ctrl-C).
    Int,
}

impl Signal {
    fn flag(self) -> &'static str {
        match self {
            Signal::Term => "-TERM",
            Signal::Int => "-INT",
        }
    }
}

/// What is done to `cr reserve`, and what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Experiment {
    /// SIGKILL, then `cr cleanup --backend B --test-id T`.
    KillThenCleanup,
    /// SIGKILL, then `cr reserve` again, then `cr cancel`.
    KillThenRerun,
    /// The signal, and nothing else.
    Signal(Signal),
}

impl fmt::Display for Experiment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Experiment::KillThenCleanup => f.write_str("SIGKILL, then cr cleanup"),
            Experiment::KillThenRerun => f.write_str("SIGKILL, then cr reserve again"),
            Experiment::Signal(Signal::Term) => f.write_str("SIGTERM"),
            Experiment::Signal(Signal::Int) => f.write_str("SIGINT"),
        }
    }
}

/// What the seeds of one experiment saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrashTally {
    /// Seeds run.
    pub seeds: u32,
    /// Stops that landed while creates had reached the cloud and `cr` had not finished.
    pub mid_flight: u32,
    /// Stops that came before any create reached the cloud.
    pub before_create: u32,
    /// Stops that came after `cr` had already exited.
    pub after_exit: u32,
    /// Reservations the stopped runs had left live (before any cleanup or rerun), summed.
    pub left_live: u32,
    /// Exit codes of the stopped `cr reserve` (`signal` when killed).
    pub exits: BTreeMap<String, u32>,
    /// One line per problem (empty when all is well): seed, moment, what, the audit.
    pub problems: Vec<String>,
}

impl CrashTally {
    /// Runs whose exit shows the stop took effect: exit 130 after SIGTERM or SIGINT, ended by
    /// the signal after SIGKILL.
    pub fn stopped(&self, experiment: Experiment) -> u32 {
        let key = match experiment {
            Experiment::Signal(_) => "130",
            _ => "signal",
        };
        self.exits.get(key).copied().unwrap_or(0)
    }

    fn add(&mut self, other: CrashTally) {
        self.seeds += other.seeds;
        self.mid_flight += other.mid_flight;
        self.before_create += other.before_create;
        self.after_exit += other.after_exit;
        self.left_live += other.left_live;
        for (k, v) in other.exits {
            *self.exits.entry(k).or_default() += v;
        }
        self.problems.extend(other.problems);
    }
}

impl fmt::Display for CrashTally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seeds {}: stopped mid-flight {}, before any create {}, after cr had exited {}; \
             left live by the stopped runs {}; exits {:?}; problems {}",
            self.seeds,
            self.mid_flight,
            self.before_create,
            self.after_exit,
            self.left_live,
            self.exits,
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  problem: {p}")?;
        }
        Ok(())
    }
}

/// The `cr` binary the experiments run: `CR_BIN`, else `cr` in the directory above the test
/// executable's (`target/<profile>/deps/<test>` → `target/<profile>/cr`).
pub fn cr_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CR_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(format!("cr{}", std::env::consts::EXE_SUFFIX)))
        .expect("the test executable lives in target/<profile>/deps")
}

/// Panics, saying how to build it, unless `cr` exists and has `backend` compiled in.
async fn check_binary(cr: &Path, backend: &str) {
    let how = format!(
        "build it first (cargo build -p cr-cli --no-default-features --features {backend},emulator) \
         or point CR_BIN at a cr that has backend {backend}"
    );
    assert!(cr.exists(), "{} does not exist: {how}", cr.display());
    let out = tokio::process::Command::new(cr)
        .args(["permissions", "--backend", backend])
        .output()
        .await
        .unwrap_or_else(|e| panic!("{} does not run ({e}): {how}", cr.display()));
    assert!(
        out.status.success(),
        "{} has no backend {backend}: {}\n{how}",
        cr.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// When the stop comes, drawn from the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moment {
    /// Once the emulator answered `n` requests (of any kind), plus `delay_ms`.
    AfterRequests { n: usize, delay_ms: u64 },
    /// `delay_ms` after the emulator answered the first create.
    AfterFirstCreate { delay_ms: u64 },
}

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Moment::AfterRequests { n, delay_ms } => {
                write!(f, "{delay_ms} ms after the emulator answered request #{n}")
            }
            Moment::AfterFirstCreate { delay_ms } => {
                write!(
                    f,
                    "{delay_ms} ms after the emulator answered the first create"
                )
            }
        }
    }
}

impl Moment {
    fn draw(draw: &mut Draw) -> Moment {
        if draw.chance(1.0 / 3.0) {
            Moment::AfterRequests {
                n: 1 + (draw.next() % 6) as usize,
                delay_ms: draw.next() % 50,
            }
        } else {
            Moment::AfterFirstCreate {
                delay_ms: draw.next() % (2 * CRASH_LRO_MS),
            }
        }
    }
}

/// One run of `cr`.
struct Run {
    /// The exit code; `None` when a signal ended it.
    code: Option<i32>,
    stderr: String,
}

impl Run {
    fn exit(&self) -> String {
        self.code
            .map_or_else(|| "signal".to_string(), |c| c.to_string())
    }
}

/// Everything a seed needs to run `cr` against its emulator.
struct Cli<'a> {
    cr: &'a Path,
    backend: &'static str,
    config: PathBuf,
    test_id: String,
    /// [`ContractTarget::cleanup_needs_config`].
    cleanup_needs_config: bool,
    endpoint: Vec<String>,
    env: BTreeMap<String, String>,
}

impl Cli<'_> {
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(self.cr);
        cmd.args(args)
            .args(&self.endpoint)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    fn reserve(&self) -> tokio::process::Command {
        let config = self.config.display().to_string();
        self.command(&["reserve", "--backend", self.backend, "--config", &config])
    }

    async fn run(&self, mut cmd: tokio::process::Command) -> Run {
        let child = cmd.spawn().expect("cr starts");
        finish(child, Duration::from_secs(120)).await
    }

    async fn cleanup(&self) -> Run {
        let config = self.config.display().to_string();
        let mut args = vec![
            "cleanup",
            "--backend",
            self.backend,
            "--test-id",
            &self.test_id,
        ];
        if self.cleanup_needs_config {
            args.extend(["--config", &config]);
        }
        self.run(self.command(&args)).await
    }

    async fn cancel(&self) -> Run {
        let config = self.config.display().to_string();
        self.run(self.command(&["cancel", "--backend", self.backend, "--config", &config]))
            .await
    }
}

/// Waits for `child` (killed after `limit`), with its stderr.
async fn finish(child: tokio::process::Child, limit: Duration) -> Run {
    let pid = child.id();
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(out)) => Run {
            code: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Ok(Err(e)) => Run {
            code: Some(-1),
            stderr: format!("waiting for cr failed: {e}"),
        },
        // kill_on_drop ended it.
        Err(_) => Run {
            code: Some(-1),
            stderr: format!("cr (pid {pid:?}) did not exit within {limit:?}"),
        },
    }
}

/// Sends `signal` to `pid` with kill(1) (the workspace forbids the unsafe libc call).
fn send(signal: Signal, pid: u32) {
    // A failed kill (it exited a moment ago) shows in its exit code.
    std::process::Command::new("kill")
        .args([signal.flag(), &pid.to_string()])
        .status()
        .expect("kill(1) runs");
}

/// Waits until the emulator is quiet: no reservation pending and no request answered for
/// 300 ms (so a create on its way when `cr` died has landed), at most 30 s.
async fn settle(fx: &Fixture, cloud: cr_core::Cloud) {
    let started = Instant::now();
    let mut seen = fx.emulator.requests().len();
    let mut quiet_since = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = fx.emulator.requests().len();
        if now != seen {
            seen = now;
            quiet_since = Instant::now();
            continue;
        }
        let pending = fx
            .live(cloud)
            .iter()
            .any(|r| r.state == cr_emulator::AuditState::Pending);
        if !pending && quiet_since.elapsed() >= Duration::from_millis(300) {
            return;
        }
    }
}

fn audit_text(records: &[AuditRecord]) -> String {
    let rows: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "{} {}/{} {}x{} {:?}",
                r.id, r.region, r.zone, r.count, r.instance_type, r.state
            )
        })
        .collect();
    format!("[{}]", rows.join("; "))
}

/// Why the live reservations are not exactly the plan (one zone per region, one live
/// reservation per (region, zone, type), the plan's counts), if they are not.
fn not_the_plan(fx: &Fixture, live: &[AuditRecord]) -> Option<String> {
    let mut why = Vec::new();
    let mut per_triple: BTreeMap<(&str, &str, &str), u32> = BTreeMap::new();
    for r in live {
        *per_triple
            .entry((&r.region, &r.zone, &r.instance_type))
            .or_default() += 1;
    }
    let doubled: Vec<_> = per_triple.iter().filter(|(_, n)| **n > 1).collect();
    if !doubled.is_empty() {
        why.push(format!("doubled (region, zone, type): {doubled:?}"));
    }
    let planned: BTreeSet<&str> = fx.plan.regions.iter().map(|r| r.region.as_str()).collect();
    let held: BTreeSet<&str> = live.iter().map(|r| r.region.as_str()).collect();
    if planned != held {
        why.push(format!("regions held {held:?}, planned {planned:?}"));
    }
    for region in &planned {
        let mut got: Vec<(String, u32)> = live
            .iter()
            .filter(|r| r.region == *region)
            .map(|r| (r.instance_type.clone(), r.count))
            .collect();
        got.sort();
        let zones: BTreeSet<&str> = live
            .iter()
            .filter(|r| r.region == *region)
            .map(|r| r.zone.as_str())
            .collect();
        if got != fx.demands(region) || zones.len() != 1 {
            why.push(format!(
                "{region} holds {got:?} in zones {zones:?}, the plan is {:?}",
                fx.demands(region)
            ));
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Runs `experiment` for `seeds` seeds derived from `seed` (each with its own emulator and
/// test id, [`CONCURRENT_SEEDS`] at a time) and returns the tally.
pub async fn crash_recovery(
    t: &dyn ContractTarget,
    experiment: Experiment,
    seeds: u32,
    seed: u64,
) -> CrashTally {
    let cr = cr_binary();
    check_binary(&cr, t.backend_name()).await;
    let cr = &cr;
    let tallies: Vec<CrashTally> = futures::stream::iter(0..seeds)
        .map(|i| async move {
            let which = format!("seed #{i} of CR_CRASH_SEED={seed}");
            let seed = seed.wrapping_mul(1_000_003).wrapping_add(u64::from(i));
            let mut tally = CrashTally {
                seeds: 1,
                ..CrashTally::default()
            };
            one_seed(t, cr, experiment, (seed, &which), &mut tally).await;
            tally
        })
        .buffer_unordered(CONCURRENT_SEEDS)
        .collect()
        .await;
    let mut total = CrashTally::default();
    for t in tallies {
        total.add(t);
    }
    total.problems.sort();
    total
}

async fn one_seed(
    t: &dyn ContractTarget,
    cr: &Path,
    experiment: Experiment,
    (seed, which): (u64, &str),
    tally: &mut CrashTally,
) {
    let cloud = t.cloud();
    let mut draw = Draw(seed);
    let layout = t.layout();
    // Distinct per experiment and seed, so seeds run side by side.
    let tag = match experiment {
        Experiment::KillThenCleanup => 1,
        Experiment::KillThenRerun => 2,
        Experiment::Signal(Signal::Term) => 3,
        Experiment::Signal(Signal::Int) => 4,
    };
    let mut config = TestConfig::single(format!("c7a5{tag:x}{seed:011x}"));
    if draw.chance(0.3) {
        config.placements.push(Placement { region: 1, zone: 0 });
    }
    let mut scenario = base_scenario();
    scenario.seed = seed;
    scenario.lro_ms = CRASH_LRO_MS;
    if draw.chance(0.3) {
        // The configured zone has no db capacity: the kill may land during the fallback.
        let first = &layout.regions[0];
        set_capacity(
            &mut scenario,
            cloud,
            &first.region,
            &first.zones[0],
            &layout.db_type,
            0,
        );
    }
    let moment = Moment::draw(&mut draw);
    let fx = Fixture::start_sharing_keys(t, scenario, config).await;
    let creds = fx.dir.path().join("creds");
    let options = t.registry_options(&fx.emulator, &creds);
    let mut endpoint = Vec::new();
    if let Some(e) = &options.endpoint {
        endpoint.extend(["--endpoint".to_string(), e.clone()]);
    }
    if let Some(ca) = &options.ca_bundle {
        endpoint.extend(["--ca-bundle".to_string(), ca.display().to_string()]);
    }
    let cli = Cli {
        cr,
        backend: t.backend_name(),
        config: fx.dir.path().join(format!("{}.yaml", fx.config.test_id)),
        test_id: fx.config.test_id.clone(),
        cleanup_needs_config: t.cleanup_needs_config(),
        endpoint,
        env: options.env.clone(),
    };
    // When the stop was sent, in milliseconds after `cr` started (set below).
    let sent_at = std::cell::Cell::new(None::<u128>);
    let problem = |tally: &mut CrashTally, what: String| {
        let sent = sent_at.get().map_or_else(
            || "not sent".to_string(),
            |ms| format!("sent {ms} ms after cr started"),
        );
        tally.problems.push(format!(
            "{experiment}, {which} (draw seed {seed}), stop {moment} ({sent}): {what}; audit: {}",
            audit_text(&fx.audit(cloud))
        ));
    };

    // The run to be stopped.
    let create = t.create_operation();
    let started = Instant::now();
    let mut child = cli.reserve().spawn().expect("cr starts");
    let pid = child.id().expect("a running child has a pid");
    let mut first_create: Option<Instant> = None;
    let exited_early = loop {
        if child.try_wait().ok().flatten().is_some() {
            break true;
        }
        let requests = fx.emulator.requests();
        if first_create.is_none() && requests.iter().any(|r| r.operation == create) {
            first_create = Some(Instant::now());
        }
        let due = match moment {
            Moment::AfterRequests { n, delay_ms } => {
                requests.len() >= n && {
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    true
                }
            }
            Moment::AfterFirstCreate { delay_ms } => {
                first_create.is_some_and(|at| at.elapsed() >= Duration::from_millis(delay_ms))
            }
        };
        if due {
            break child.try_wait().ok().flatten().is_some();
        }
        if started.elapsed() > Duration::from_secs(60) {
            problem(
                tally,
                "the stop never came due within 60 s (no create reached the emulator)".into(),
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let created_before = fx.emulator.requests().iter().any(|r| r.operation == create);
    if exited_early {
        tally.after_exit += 1;
    } else {
        if created_before {
            tally.mid_flight += 1;
        } else {
            tally.before_create += 1;
        }
        sent_at.set(Some(started.elapsed().as_millis()));
        match experiment {
            Experiment::Signal(signal) => send(signal, pid),
            _ => {
                let _ = child.start_kill();
            }
        }
    }
    let stopped = finish(child, Duration::from_secs(120)).await;
    *tally.exits.entry(stopped.exit()).or_default() += 1;
    settle(&fx, cloud).await;
    let left = fx.live(cloud);
    tally.left_live += left.len() as u32;
    let stderr_tail = |run: &Run| {
        let lines: Vec<&str> = run.stderr.lines().collect();
        lines[lines.len().saturating_sub(6)..].join(" | ")
    };

    match experiment {
        Experiment::Signal(_) => match stopped.code {
            Some(130) if !left.is_empty() => problem(
                tally,
                format!(
                    "cr exited 130 (everything released) yet {} reservations are live; stderr: {}",
                    left.len(),
                    stderr_tail(&stopped)
                ),
            ),
            Some(130) => {}
            Some(0) => {
                // The reserve had finished: it returned the set, which must be the plan.
                if let Some(why) = not_the_plan(&fx, &left) {
                    problem(tally, format!("cr exited 0 but {why}"));
                }
                release(&fx, &cli, cloud, tally, &problem).await;
            }
            _ => {
                problem(
                    tally,
                    format!(
                        "cr exited {} (130 expected); {} reservations live; stderr: {}",
                        stopped.exit(),
                        left.len(),
                        stderr_tail(&stopped)
                    ),
                );
                release(&fx, &cli, cloud, tally, &problem).await;
            }
        },
        Experiment::KillThenCleanup => {
            let run = cli.cleanup().await;
            settle(&fx, cloud).await;
            let live = fx.live(cloud);
            if run.code != Some(0) || !live.is_empty() {
                problem(
                    tally,
                    format!(
                        "cr cleanup exited {} and {} reservations are live; stderr: {}",
                        run.exit(),
                        live.len(),
                        stderr_tail(&run)
                    ),
                );
            }
        }
        Experiment::KillThenRerun => {
            let run = cli.run(cli.reserve()).await;
            settle(&fx, cloud).await;
            let live = fx.live(cloud);
            if run.code != Some(0) {
                problem(
                    tally,
                    format!(
                        "the rerun exited {}; stderr: {}",
                        run.exit(),
                        stderr_tail(&run)
                    ),
                );
            } else if let Some(why) = not_the_plan(&fx, &live) {
                problem(
                    tally,
                    format!(
                        "after the rerun (exit 0) {why} (the killed run left {})",
                        left.len()
                    ),
                );
            }
            let run = cli.cancel().await;
            settle(&fx, cloud).await;
            let live = fx.live(cloud);
            if run.code != Some(0) || !live.is_empty() {
                problem(
                    tally,
                    format!(
                        "cr cancel after the rerun exited {} and {} reservations are live; stderr: {}",
                        run.exit(),
                        live.len(),
                        stderr_tail(&run)
                    ),
                );
            }
        }
    }
}

/// Releases what a seed's run holds with `cr cleanup`, as a problem if that fails.
async fn release(
    fx: &Fixture,
    cli: &Cli<'_>,
    cloud: cr_core::Cloud,
    tally: &mut CrashTally,
    problem: &impl Fn(&mut CrashTally, String),
) {
    let run = cli.cleanup().await;
    settle(fx, cloud).await;
    let live = fx.live(cloud);
    if run.code != Some(0) || !live.is_empty() {
        problem(
            tally,
            format!(
                "cr cleanup exited {} and {} reservations are live",
                run.exit(),
                live.len()
            ),
        );
    }
}
