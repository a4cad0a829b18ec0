//! Rendering for people (`--output text`) and programs (`--output json`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use std::ffi::OsStr;
use std::io::IsTerminal;

use comfy_table::{
    Table,
    presets::{ASCII_FULL_CONDENSED, UTF8_FULL_CONDENSED},
};
use cr_core::error::{CloudError, Error, Leftover};
use cr_core::orphans::{self, Assessed, OrphanReason, OrphanRules};
use cr_core::preflight::{PreflightReport, Status};
use cr_core::{
    CancelReport, CapacityPlan, CapacityReservation, CleanupPreview, Cloud, Reservation,
    ReservationSet, Result,
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::args::Output;

/// Writes `text` to stdout. A closed stdout (`cr status | head`) is not an error worth a
/// panic: the reader has what it wanted.
pub fn text(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => text(&format!("{s}\n")),
        Err(e) => eprintln!("error: cannot render JSON: {e}"),
    }
}

/// The plan as JSON: the documented fields plus the tags every reservation will carry, and
/// the notes of [`PlanNotes`].
pub fn plan_json(plan: &CapacityPlan, notes: &PlanNotes) -> serde_json::Value {
    let mut v = serde_json::to_value(plan).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "tags".into(),
            serde_json::to_value(&plan.tags.0).unwrap_or_default(),
        );
        obj.insert("schema".into(), json!(SCHEMA));
        obj.insert("compiled_in".into(), json!(notes.unavailable.is_none()));
        obj.insert("unavailable_reason".into(), json!(notes.unavailable));
        obj.insert("monitors_left_out".into(), json!(notes.monitors_left_out));
    }
    v
}

/// What `cr plan` says beyond the plan itself: whether this `cr` can act on it, and what the
/// configuration demands that cr will not reserve.
#[derive(Debug, Default)]
pub struct PlanNotes {
    /// Why this `cr` cannot reserve for the backend (not compiled in), if so.
    pub unavailable: Option<String>,
    /// Monitor nodes configured per region but left out of the plan.
    pub monitors_left_out: Vec<u32>,
}

pub fn plan_text(plan: &CapacityPlan, notes: &PlanNotes) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "backend:   {}", plan.backend);
    let _ = writeln!(
        s,
        "test id:   {}",
        plan.test_id.as_deref().unwrap_or("(not set)")
    );
    match (&plan.disabled_reason, &notes.unavailable) {
        (None, None) => {
            let _ = writeln!(s, "enabled:   yes");
        }
        (None, Some(why)) => {
            let _ = writeln!(
                s,
                "enabled:   yes in the configuration, but this cr cannot reserve it: {why}"
            );
        }
        (Some(reason), _) => {
            let _ = writeln!(s, "enabled:   no — {reason}");
        }
    }
    let _ = writeln!(
        s,
        "ends:      {} ({} minutes from now)",
        plan.end_time, plan.duration_minutes
    );
    let width = plan
        .regions
        .iter()
        .flat_map(|r| r.demands.iter().map(|d| d.count.to_string().len()))
        .max()
        .unwrap_or(1);
    if plan.regions.iter().all(|r| r.demands.is_empty()) {
        let _ = writeln!(
            s,
            "nothing to reserve: every node count of the configuration is 0 for the types this backend reserves"
        );
    }
    for region in &plan.regions {
        let zones = match (region.zones.is_empty(), region.zone_fallback) {
            (true, _) => {
                "every zone the cloud lists as offering all of these types (asked at reserve time)"
                    .to_string()
            }
            (false, true) => format!(
                "{}, then the region's other zones offering all of these types",
                region.zones.join(", ")
            ),
            (false, false) => format!("{} only", region.zones.join(", ")),
        };
        let _ = writeln!(s, "region {}: zones {zones}", region.region);
        if region.demands.is_empty() {
            let _ = writeln!(s, "  nothing to reserve");
        }
        for d in &region.demands {
            let roles: Vec<String> = d
                .roles
                .iter()
                .map(|r| {
                    serde_json::to_value(r)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                })
                .collect();
            let mut details = Vec::new();
            if d.details.local_ssds > 0 {
                details.push(format!("{} local NVMe SSDs", d.details.local_ssds));
            }
            if let Some(ocpus) = d.details.ocpus {
                details.push(format!("{ocpus} OCPUs"));
            }
            if let Some(gb) = d.details.memory_gb {
                details.push(format!("{gb} GB"));
            }
            if let Some(n) = d.details.nvmes {
                details.push(format!("{n} NVMe drives"));
            }
            let details = if details.is_empty() {
                String::new()
            } else {
                format!(" [{}]", details.join(", "))
            };
            let _ = writeln!(
                s,
                "  {:>width$} × {}{details} ({})",
                d.count,
                d.instance_type,
                roles.join(", ")
            );
        }
    }
    if notes.monitors_left_out.iter().any(|&n| n > 0) {
        let counts: Vec<String> = notes.monitors_left_out.iter().map(u32::to_string).collect();
        let _ = writeln!(
            s,
            "not reserved: monitor nodes (n_monitor_nodes: {}); set reserve_monitor_nodes: true to include them",
            counts.join(" ")
        );
    }
    s
}

/// The version of every JSON document cr prints (docs/json.md).
pub const SCHEMA: u32 = 1;

/// A table: UTF-8 box drawing on a terminal, plain ASCII into pipes and files.
fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    if std::io::stdout().is_terminal() {
        t.load_style(UTF8_FULL_CONDENSED);
    } else {
        t.load_style(ASCII_FULL_CONDENSED);
    }
    t.set_header(header.to_vec());
    t
}

/// A permissions document for people: every permission (action, statement) it grants, one
/// per line; `--output json` prints the document itself, ready to apply.
pub fn permissions_text(backend: &str, document: &Value) -> String {
    fn collect(value: &Value, key: &str, out: &mut Vec<String>) {
        match value {
            // Where a role may be assigned is not a permission.
            Value::Array(_) if key.eq_ignore_ascii_case("assignableScopes") => {}
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        other => collect(other, key, out),
                    }
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    collect(v, k, out);
                }
            }
            _ => {}
        }
    }
    let mut lines = Vec::new();
    collect(document, "", &mut lines);
    let mut s = format!(
        "{backend}: cr needs these {} permissions (the document to apply: cr permissions --backend {backend} --output json)\n",
        lines.len()
    );
    for line in lines {
        let _ = writeln!(s, "  {line}");
    }
    s
}

/// Whether log lines on stderr may use colour: only on a terminal, never with `NO_COLOR`
/// (any non-empty value), always with `CLICOLOR_FORCE` (non-empty, not `0`).
pub fn stderr_colour() -> bool {
    colour(
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("CLICOLOR_FORCE").as_deref(),
        std::io::stderr().is_terminal(),
    )
}

/// The colour rule of [`stderr_colour`] (<https://no-color.org>, `CLICOLOR_FORCE`).
fn colour(no_color: Option<&OsStr>, force: Option<&OsStr>, terminal: bool) -> bool {
    if no_color.is_some_and(|v| !v.is_empty()) {
        return false;
    }
    force.is_some_and(|v| !v.is_empty() && v != "0") || terminal
}

/// The reservation set as JSON for programs: the set, with `schema` and, for every
/// reservation, the `instance_target` snippet a provisioner puts into its create-instance
/// request (so no library is needed to consume it).
pub fn set_json(set: &ReservationSet, backend: &dyn CapacityReservation) -> Value {
    let mut v = cr_core::backend::set_with_instance_targets(set, backend);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("schema".into(), json!(SCHEMA));
        obj.insert("ok".into(), json!(true));
    }
    v
}

/// A failure as JSON for programs (docs/json.md): what failed, where, the cloud's own code,
/// the zones tried, and what is still held.
pub fn error_json(e: &Error, exit_code: u8) -> Value {
    let cloud = |c: &CloudError| {
        json!({
            "kind": c.kind,
            "cloud": c.location.cloud,
            "region": c.location.region,
            "zone": c.location.zone,
            "instance_type": c.location.instance_type,
            "operation": c.operation,
            "code": c.code,
            "message": c.message,
            "request_id": c.request_id,
            "quota_scope": c.quota_scope.map(|_| c.scope()),
        })
    };
    let mut error = json!({
        "kind": e.kind(),
        "message": e.to_string(),
    });
    let obj = error.as_object_mut().expect("an object");
    if let Some(c) = e.cloud_error() {
        obj.insert("cloud_error".into(), cloud(c));
    }
    let mut cause = e;
    let mut leftovers: &[Leftover] = &[];
    if let Error::RollbackFailed {
        cause: c,
        leftovers: l,
    } = e
    {
        cause = c;
        leftovers = l;
        obj.insert("cause".into(), error_json(c, exit_code)["error"].clone());
    }
    match cause {
        Error::NoZoneAvailable {
            attempts, skipped, ..
        } => {
            obj.insert(
                "attempts".into(),
                attempts
                    .iter()
                    .map(|a| json!({"zone": a.zone, "error": cloud(&a.error)}))
                    .collect(),
            );
            obj.insert("skipped_zones".into(), json!(skipped));
        }
        Error::QuotaExhausted {
            attempts, error, ..
        } => {
            // Every zone tried, the one whose quota error ended the search last.
            let last = error
                .location
                .zone
                .as_ref()
                .map(|zone| json!({"zone": zone, "error": cloud(error)}));
            obj.insert(
                "attempts".into(),
                attempts
                    .iter()
                    .map(|a| json!({"zone": a.zone, "error": cloud(&a.error)}))
                    .chain(last)
                    .collect(),
            );
        }
        Error::InvalidConfig(c) => {
            obj.insert("config".into(), json!(c));
        }
        _ => {}
    }
    if !leftovers.is_empty() {
        obj.insert("still_held".into(), json!(leftovers));
    }
    json!({"schema": SCHEMA, "ok": false, "exit_code": exit_code, "error": error})
}

pub fn set_text(set: &ReservationSet) -> String {
    let mut s = format!("reserved for test {} on {}:\n", set.test_id, set.backend);
    let mut t = table(&[
        "region",
        "zone",
        "instance type",
        "count",
        "id",
        "state",
        "ends",
    ]);
    for region in &set.regions {
        for r in &region.reservations {
            let state = state_label(&r.state);
            t.add_row(vec![
                r.region.clone(),
                zone_label(&r.zone).to_string(),
                r.instance_type.clone(),
                r.count.to_string(),
                r.id.to_string(),
                if region.reused {
                    format!("{state} (reused)")
                } else {
                    state
                },
                r.end_time.map(|e| e.to_string()).unwrap_or_default(),
            ]);
        }
    }
    let _ = writeln!(s, "{t}");
    // The zone is what the provisioner must launch in: a reservation elsewhere is paid for
    // and unusable.
    for region in &set.regions {
        let how = if region.reused {
            "reused: already held by this test"
        } else {
            "reserved"
        };
        let _ = match &region.zone {
            Some(zone) => writeln!(
                s,
                "{}: launch the test's instances in zone {zone} ({how})",
                region.region
            ),
            None => writeln!(
                s,
                "{}: regional reservations: any zone of the region ({how})",
                region.region
            ),
        };
        for skipped in &region.skipped_zones {
            let _ = writeln!(
                s,
                "{}: configured zone {} skipped: {}",
                region.region, skipped.zone, skipped.reason
            );
        }
        for tried in &region.attempts {
            let code = if tried.code.is_empty() {
                String::new()
            } else {
                format!("{}: ", tried.code)
            };
            let _ = writeln!(
                s,
                "{}: zone {} tried first and given up: {}{code}{}",
                region.region,
                tried.zone,
                tried
                    .instance_type
                    .as_deref()
                    .map(|t| format!("{t}: "))
                    .unwrap_or_default(),
                tried.message
            );
        }
    }
    s
}

/// How long a reservation may stay entirely unused before `cr status` warns about it.
pub const UNUSED_WARNING_MINUTES: i64 = 30;

/// Reservations created more than [`UNUSED_WARNING_MINUTES`] ago that no instance uses (the
/// cloud reports 0 used): the test's instances are probably not targeting them.
pub fn unused_warnings(set: &ReservationSet, now: jiff::Timestamp) -> Vec<String> {
    set.reservations()
        .filter(|r| r.used == Some(0))
        .filter_map(|r| {
            let minutes = now.duration_since(r.created?).as_mins();
            (minutes >= UNUSED_WARNING_MINUTES).then(|| {
                format!(
                    "{} ({} x {} in {}) has been entirely unused for {minutes} minutes since it \
                     was created: the test's instances are not consuming it (wrong zone or type, \
                     or the reservation not named in the create-instance request: see \
                     docs/provisioning.md)",
                    r.id,
                    r.count,
                    r.instance_type,
                    zone_label(&r.zone)
                )
            })
        })
        .collect()
}

/// A duration for people: `42s`, `17m`, `3h05m`, `2d04h`.
fn age_label(since: Option<jiff::Timestamp>, now: jiff::Timestamp) -> String {
    let Some(since) = since else {
        return "?".into();
    };
    duration_label(u64::try_from(now.duration_since(since).as_secs()).unwrap_or(0))
}

/// Seconds for people: `42s`, `17m`, `3h05m`, `2d04h`.
fn duration_label(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

pub fn status_text(set: &ReservationSet, now: jiff::Timestamp) -> String {
    if set.is_empty() {
        return format!(
            "no live reservation of test {} on {}\n",
            set.test_id, set.backend
        );
    }
    let mut t = table(&[
        "id",
        "region",
        "zone",
        "instance type",
        "count",
        "used/available",
        "ends",
        "state",
        "age",
    ]);
    for r in set.reservations() {
        let usage = usage_label(r);
        t.add_row(vec![
            r.id.to_string(),
            r.region.clone(),
            zone_label(&r.zone).to_string(),
            r.instance_type.clone(),
            r.count.to_string(),
            usage,
            r.end_time.map(|e| e.to_string()).unwrap_or_default(),
            state_label(&r.state),
            age_label(r.created, now),
        ]);
    }
    format!("test {} on {}:\n{t}\n", set.test_id, set.backend)
}

/// Prints a cancel report; a report with failures exits 5 (still held).
pub fn report(output: Output, report: &CancelReport) -> Result<ExitCode> {
    match output {
        Output::Json => json(&document(report, report.is_complete())),
        Output::Text => {
            let mut s = report_lines(report);
            if s.is_empty() {
                s.push_str("nothing to cancel\n");
            }
            text(&s);
        }
    }
    if report.is_complete() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: {} reservation(s) could not be cancelled and are still held; rerun `cr cancel` or `cr cleanup`",
            report.failed.len()
        );
        // The documented code of "still held" (as a failed rollback).
        Ok(ExitCode::from(5))
    }
}

/// One line per reservation of a cancel report: cancelled, already gone, FAILED (with why).
fn report_lines(report: &CancelReport) -> String {
    let mut s = String::new();
    for r in &report.cancelled {
        let _ = writeln!(
            s,
            "cancelled     {} ({} × {} in {}/{})",
            r.id,
            r.count,
            r.instance_type,
            r.region,
            zone_label(&r.zone)
        );
    }
    for r in &report.already_gone {
        let _ = writeln!(
            s,
            "already gone  {} ({} in {}/{})",
            r.id,
            r.instance_type,
            r.region,
            zone_label(&r.zone)
        );
    }
    for l in &report.failed {
        let _ = writeln!(
            s,
            "FAILED        {} ({} in {}): {}",
            l.id,
            l.instance_type,
            l.place(),
            l.error
        );
    }
    s
}

/// Prints what `cr cleanup --dry-run` found: nothing was changed.
pub fn preview(output: Output, cloud: Cloud, preview: &CleanupPreview) {
    match output {
        Output::Json => {
            let mut doc = document(preview, true);
            if let Some(obj) = doc.as_object_mut() {
                obj.insert("dry_run".into(), json!(true));
            }
            json(&doc);
        }
        Output::Text => {
            let mut s = String::new();
            for r in &preview.reservations {
                let _ = writeln!(
                    s,
                    "would cancel  {} ({} × {} in {}/{})",
                    r.id,
                    r.count,
                    r.instance_type,
                    r.region,
                    zone_label(&r.zone)
                );
            }
            // Only Azure has region resources (reservation groups, an owned resource group).
            if cloud == Cloud::Azure && !preview.regions_to_finish.is_empty() {
                let _ = writeln!(
                    s,
                    "would remove the test's reservation groups (and owned resource group) in: {}",
                    preview.regions_to_finish.join(", ")
                );
            }
            if s.is_empty() {
                let _ = writeln!(
                    s,
                    "nothing to cancel: no live reservation tagged TestId={} in any region",
                    preview.test_id
                );
            }
            s.push_str("dry run: nothing was cancelled\n");
            text(&s);
        }
    }
}

/// What `cr orphans` found, for rendering.
#[derive(Debug)]
pub struct Orphans<'a> {
    /// The cloud listed.
    pub backend: Cloud,
    /// When the rules were applied.
    pub now: jiff::Timestamp,
    /// The rules.
    pub rules: &'a OrphanRules,
    /// Every reservation cr created, with its reasons.
    pub assessed: &'a [Assessed],
    /// Whether to show the reservations that are not orphans too.
    pub all: bool,
    /// The outcome of `--cancel`, if given.
    pub report: Option<&'a CancelReport>,
}

/// One reservation of `cr orphans` for programs (docs/json.md).
fn assessed_json(a: &Assessed, now: jiff::Timestamp) -> Value {
    let r = &a.reservation;
    json!({
        "id": r.id,
        "cloud": r.cloud,
        "region": r.region,
        "zone": r.zone,
        "instance_type": r.instance_type,
        "count": r.count,
        "used": r.used,
        "available": r.used.map(|u| r.count.saturating_sub(u)),
        "state": r.state,
        "created": r.created.map(|t| t.to_string()),
        "age_seconds": orphans::age(r, now).map(|d| d.as_secs()),
        "end_time": a.end_time.map(|t| t.to_string()),
        "test_id": r.tags.get(cr_core::tags::TEST_ID),
        "reasons": a.reasons,
        "tags": r.tags,
    })
}

/// `cr orphans --output json`.
pub fn orphans_json(found: &Orphans<'_>) -> Value {
    let (orphaned, others): (Vec<&Assessed>, Vec<&Assessed>) =
        found.assessed.iter().partition(|a| a.is_orphan());
    let mut doc = json!({
        "schema": SCHEMA,
        "ok": found.report.is_none_or(CancelReport::is_complete),
        "backend": found.backend,
        "listed_at": found.now.to_string(),
        "rules": {
            "older_than_seconds": found.rules.older_than.map(|d| d.as_secs()),
            "unused_for_seconds": found.rules.unused_for.map(|d| d.as_secs()),
            "finished_tests": found.rules.finished_tests,
        },
        "listed": found.assessed.len(),
        "orphans": orphaned.iter().map(|a| assessed_json(a, found.now)).collect::<Vec<_>>(),
    });
    let obj = doc.as_object_mut().expect("an object");
    if found.all {
        obj.insert(
            "not_orphans".into(),
            others.iter().map(|a| assessed_json(a, found.now)).collect(),
        );
    }
    if let Some(report) = found.report {
        let mut r = serde_json::to_value(report).unwrap_or(Value::Null);
        if let Some(o) = r.as_object_mut() {
            o.remove("schema");
        }
        obj.insert("cancel".into(), r);
    }
    doc
}

/// Why a reservation is an orphan, for people.
fn reason_label(reason: OrphanReason, rules: &OrphanRules) -> String {
    let span =
        |d: Option<std::time::Duration>| d.map(|d| duration_label(d.as_secs())).unwrap_or_default();
    match reason {
        OrphanReason::PastEndTime => "past its end time".into(),
        OrphanReason::OlderThan => format!("older than {}", span(rules.older_than)),
        OrphanReason::Unused => format!("unused for {}+", span(rules.unused_for)),
        OrphanReason::TestFinished => "its test finished".into(),
    }
}

/// `cr orphans` for people: a table of the orphans (and, with `--all`, the others), then
/// what `--cancel` did.
pub fn orphans_text(found: &Orphans<'_>) -> String {
    let shown: Vec<&Assessed> = found
        .assessed
        .iter()
        .filter(|a| found.all || a.is_orphan())
        .collect();
    let orphans = found.assessed.iter().filter(|a| a.is_orphan()).count();
    let mut s = format!(
        "{orphans} orphaned of {} reservation(s) cr created on {} (every region)\n",
        found.assessed.len(),
        found.backend
    );
    if !shown.is_empty() {
        let mut t = table(&[
            "id",
            "region",
            "zone",
            "instance type",
            "count",
            "used/available",
            "age",
            "ends",
            "test id",
            "orphaned because",
        ]);
        for a in shown {
            let r = &a.reservation;
            let why: Vec<String> = a
                .reasons
                .iter()
                .map(|x| reason_label(*x, found.rules))
                .collect();
            t.add_row(vec![
                r.id.to_string(),
                r.region.clone(),
                zone_label(&r.zone).to_string(),
                r.instance_type.clone(),
                r.count.to_string(),
                usage_label(r),
                age_label(r.created, found.now),
                a.end_time.map(|e| e.to_string()).unwrap_or_default(),
                r.tags
                    .get(cr_core::tags::TEST_ID)
                    .cloned()
                    .unwrap_or_default(),
                if why.is_empty() {
                    "(not an orphan)".to_string()
                } else {
                    why.join("; ")
                },
            ]);
        }
        let _ = writeln!(s, "{t}");
    }
    if let Some(report) = found.report {
        let lines = report_lines(report);
        if lines.is_empty() {
            s.push_str("nothing to cancel\n");
        } else {
            s.push_str(&lines);
        }
    }
    s
}

/// `used/available`, or `?/?` when the cloud does not say.
fn usage_label(r: &Reservation) -> String {
    match r.used {
        Some(used) => format!("{used}/{}", r.count.saturating_sub(used)),
        None => "?/?".to_string(),
    }
}

/// A reservation's state as its JSON name (`active`, `pending`, …).
fn state_label(state: &cr_core::model::ReservationState) -> String {
    match serde_json::to_value(state) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A document for programs: `value` (an object) with `schema` and `ok` (docs/json.md).
pub fn document<T: Serialize>(value: &T, ok: bool) -> Value {
    let mut v = serde_json::to_value(value).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("schema".into(), json!(SCHEMA));
        obj.insert("ok".into(), json!(ok));
    }
    v
}

/// The preflight as JSON for programs (docs/json.md, `preflight`): `ok` is whether reserving
/// can work, every finding with its area, status, region, subject, detail, fix and the
/// cloud's code, and the counts per status.
pub fn preflight_json(report: &PreflightReport) -> Value {
    let count = |s: Status| report.findings.iter().filter(|f| f.status == s).count();
    document(
        &json!({
            "cloud": report.cloud,
            "can_reserve": report.can_reserve(),
            "findings": report.findings,
            "counts": {
                "pass": count(Status::Pass),
                "fail": count(Status::Fail),
                "not_checkable": count(Status::NotCheckable),
            },
        }),
        report.can_reserve(),
    )
}

/// The preflight checklist for people: one line per finding (✓ passed, ✗ failed, ? not
/// checkable; `ok`, `FAIL`, `??` off a terminal or with `NO_COLOR`), with what to do under
/// a failure when the detail does not already say it, and a verdict.
pub fn preflight_text(report: &PreflightReport) -> String {
    let fancy = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    preflight_lines(report, fancy)
}

fn preflight_lines(report: &PreflightReport, fancy: bool) -> String {
    let mark = |s: Status| match (s, fancy) {
        (Status::Pass, true) => "✓",
        (Status::Fail, true) => "✗",
        (Status::NotCheckable, true) => "?",
        (Status::Pass, false) => "ok  ",
        (Status::Fail, false) => "FAIL",
        (Status::NotCheckable, false) => "??  ",
    };
    let mut s = format!(
        "preflight of {} (nothing is created):
",
        report.cloud
    );
    for f in &report.findings {
        let region = f
            .region
            .as_deref()
            .map(|r| format!(" {r}"))
            .unwrap_or_default();
        let code = f
            .code
            .as_deref()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{} {}{region}: {}: {}{code}",
            mark(f.status),
            f.area.as_str(),
            f.subject,
            f.detail
        );
        if let Some(fix) = f.fix.as_deref().filter(|x| !f.detail.contains(x)) {
            let _ = writeln!(s, "     fix: {fix}");
        }
    }
    let failed = report.failures().count();
    let unknown = report
        .findings
        .iter()
        .filter(|f| f.status == Status::NotCheckable)
        .count();
    let unknown = if unknown > 0 {
        format!(" ({unknown} not checkable, see ?)")
    } else {
        String::new()
    };
    if failed == 0 {
        let _ = writeln!(s, "reserving can work{unknown}");
    } else {
        let _ = writeln!(
            s,
            "reserving cannot work: {failed} check{} failed{unknown}",
            if failed == 1 { "" } else { "s" }
        );
    }
    s
}

/// A reservation's zone for people: regional ones have none.
fn zone_label(zone: &Option<String>) -> &str {
    zone.as_deref().unwrap_or("(regional)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_no_color_and_clicolor_force() {
        let v = |s: &'static str| Some(OsStr::new(s));
        assert!(colour(None, None, true), "a terminal gets colour");
        assert!(!colour(None, None, false), "a pipe does not");
        assert!(!colour(v("1"), None, true), "NO_COLOR wins");
        assert!(
            !colour(v("1"), v("1"), true),
            "NO_COLOR wins over CLICOLOR_FORCE"
        );
        assert!(colour(v(""), None, true), "an empty NO_COLOR is unset");
        assert!(colour(None, v("1"), false), "CLICOLOR_FORCE colours a pipe");
        assert!(!colour(None, v("0"), false), "CLICOLOR_FORCE=0 does not");
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;
    use cr_core::Cloud;
    use cr_core::model::{RegionReservations, Reservation, ReservationId, ReservationState};

    fn set(used: Option<u32>, created_minutes_ago: i64, now: jiff::Timestamp) -> ReservationSet {
        let r = Reservation {
            id: ReservationId("cr-1".into()),
            cloud: Cloud::Gce,
            region: "us-east1".into(),
            zone: Some("us-east1-c".into()),
            instance_type: "n2-standard-8".into(),
            count: 3,
            used,
            end_time: None,
            created: Some(now - jiff::SignedDuration::from_mins(created_minutes_ago)),
            state: ReservationState::Active,
            tags: Default::default(),
            extra: Default::default(),
        };
        ReservationSet {
            backend: Cloud::Gce,
            test_id: "t".into(),
            regions: vec![RegionReservations {
                region: "us-east1".into(),
                zone: Some("us-east1-c".into()),
                reservations: vec![r],
                reused: false,
                skipped_zones: Vec::new(),
                attempts: Vec::new(),
            }],
        }
    }

    #[test]
    fn a_reservation_unused_long_after_creation_is_warned_about() {
        let now = jiff::Timestamp::now();
        let warned = unused_warnings(&set(Some(0), 45, now), now);
        assert_eq!(warned.len(), 1);
        assert!(warned[0].contains("unused for 45 minutes"), "{warned:?}");
        assert!(
            unused_warnings(&set(Some(0), 10, now), now).is_empty(),
            "too young"
        );
        assert!(
            unused_warnings(&set(Some(1), 45, now), now).is_empty(),
            "in use"
        );
        assert!(
            unused_warnings(&set(None, 45, now), now).is_empty(),
            "usage unknown"
        );
        let text = status_text(&set(Some(0), 45, now), now);
        assert!(text.contains("| 45m "), "{text}");
        assert!(text.contains("0/3"), "{text}");
    }

    #[test]
    fn ages_read_like_durations() {
        let now = jiff::Timestamp::now();
        let ago = |s: i64| Some(now - jiff::SignedDuration::from_secs(s));
        assert_eq!(age_label(ago(42), now), "42s");
        assert_eq!(age_label(ago(17 * 60), now), "17m");
        assert_eq!(age_label(ago(3 * 3600 + 5 * 60), now), "3h05m");
        assert_eq!(age_label(ago(2 * 86_400 + 4 * 3600), now), "2d04h");
        assert_eq!(age_label(None, now), "?");
    }
}

#[cfg(test)]
mod orphans_tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    use super::*;
    use cr_core::model::{ReservationId, ReservationState};

    fn reservation(id: &str, test: &str, used: Option<u32>, now: jiff::Timestamp) -> Reservation {
        Reservation {
            id: ReservationId(id.into()),
            cloud: Cloud::Oci,
            region: "us-ashburn-1".into(),
            zone: Some("Emul:IAD-AD-1".into()),
            instance_type: "VM.Standard.E4.Flex".into(),
            count: 3,
            used,
            end_time: None,
            created: Some(now - jiff::SignedDuration::from_mins(20)),
            state: ReservationState::Active,
            tags: BTreeMap::from([
                ("TestId".to_string(), test.to_string()),
                ("CreatedBy".to_string(), "cr".to_string()),
            ]),
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn orphans_show_why_and_the_others_only_with_all() {
        let now = jiff::Timestamp::now();
        let rules = OrphanRules {
            unused_for: Some(Duration::from_secs(15 * 60)),
            finished_tests: BTreeSet::from(["t-done".to_string()]),
            ..OrphanRules::default()
        };
        let assessed = orphans::assess(
            vec![
                reservation("ocid1.a", "t-done", Some(0), now),
                reservation("ocid1.b", "t-busy", Some(3), now),
            ],
            &rules,
            now,
        );
        let mut found = Orphans {
            backend: Cloud::Oci,
            now,
            rules: &rules,
            assessed: &assessed,
            all: false,
            report: None,
        };
        let text = orphans_text(&found);
        assert!(
            text.starts_with("1 orphaned of 2 reservation(s) cr created on oci"),
            "{text}"
        );
        assert!(
            text.contains("unused for 15m+; its test finished"),
            "{text}"
        );
        assert!(text.contains("0/3"), "{text}");
        assert!(!text.contains("ocid1.b"), "{text}");
        found.all = true;
        let text = orphans_text(&found);
        assert!(text.contains("ocid1.b"), "{text}");
        assert!(text.contains("(not an orphan)"), "{text}");

        let doc = orphans_json(&found);
        assert_eq!(doc["listed"], 2);
        assert_eq!(
            doc["orphans"][0]["reasons"],
            json!(["unused", "test_finished"])
        );
        assert_eq!(doc["orphans"][0]["available"], 3);
        assert_eq!(doc["orphans"][0]["age_seconds"], 1200);
        assert_eq!(doc["not_orphans"][0]["id"], "ocid1.b");
        assert!(doc.get("cancel").is_none(), "no --cancel");
    }
}
