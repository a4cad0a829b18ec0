//! Rendering for people (`--output text`) and programs (`--output json`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use cr_core::{CancelReport, CapacityPlan, ReservationSet, Result};
use serde::Serialize;

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

/// The plan as JSON: the documented fields plus the tags every reservation will carry.
pub fn plan_json(plan: &CapacityPlan) -> serde_json::Value {
    let mut v = serde_json::to_value(plan).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "tags".into(),
            serde_json::to_value(&plan.tags.0).unwrap_or_default(),
        );
    }
    v
}

pub fn plan_text(plan: &CapacityPlan) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "backend:   {}", plan.backend);
    let _ = writeln!(
        s,
        "test id:   {}",
        plan.test_id.as_deref().unwrap_or("(not set)")
    );
    match &plan.disabled_reason {
        None => {
            let _ = writeln!(s, "enabled:   yes");
        }
        Some(reason) => {
            let _ = writeln!(s, "enabled:   no — {reason}");
        }
    }
    let _ = writeln!(
        s,
        "ends:      {} ({} minutes from now)",
        plan.end_time, plan.duration_minutes
    );
    for region in &plan.regions {
        let zones = if region.zones.is_empty() {
            "(any)".to_string()
        } else {
            region.zones.join(", ")
        };
        let fallback = if region.zone_fallback {
            ", then the region's other zones"
        } else {
            " only"
        };
        let _ = writeln!(s, "region {}: zones {zones}{fallback}", region.region);
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
                "  {:>4} × {}{details} ({})",
                d.count,
                d.instance_type,
                roles.join(", ")
            );
        }
    }
    s
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(header.to_vec());
    t
}

pub fn set_text(set: &ReservationSet) -> String {
    let mut s = format!("reserved for test {} on {}:\n", set.test_id, set.backend);
    let mut t = table(&["region", "zone", "instance type", "count", "id", "ends"]);
    for r in set.reservations() {
        t.add_row(vec![
            r.region.clone(),
            zone_label(&r.zone).to_string(),
            r.instance_type.clone(),
            r.count.to_string(),
            r.id.to_string(),
            r.end_time.map(|e| e.to_string()).unwrap_or_default(),
        ]);
    }
    let _ = writeln!(s, "{t}");
    // The zone is what the provisioner must launch in: a reservation elsewhere is paid for
    // and unusable.
    for region in &set.regions {
        let how = if region.reused {
            "reused (already held by this test)"
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
    }
    s
}

pub fn status_text(set: &ReservationSet) -> String {
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
    ]);
    for r in set.reservations() {
        let usage = match r.used {
            Some(used) => format!("{used}/{}", r.count.saturating_sub(used)),
            None => format!("?/{}", r.count),
        };
        t.add_row(vec![
            r.id.to_string(),
            r.region.clone(),
            zone_label(&r.zone).to_string(),
            r.instance_type.clone(),
            r.count.to_string(),
            usage,
            r.end_time.map(|e| e.to_string()).unwrap_or_default(),
            serde_json::to_value(&r.state)
                .map(|v| match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                })
                .unwrap_or_default(),
        ]);
    }
    format!("test {} on {}:\n{t}\n", set.test_id, set.backend)
}

/// Prints a cancel report; a report with failures exits 1.
pub fn report(output: Output, report: &CancelReport) -> Result<ExitCode> {
    match output {
        Output::Json => json(report),
        Output::Text => {
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

/// A reservation's zone for people: regional ones have none.
fn zone_label(zone: &Option<String>) -> &str {
    zone.as_deref().unwrap_or("(regional)")
}
