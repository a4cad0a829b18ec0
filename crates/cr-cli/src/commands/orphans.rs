//! `cr orphans`: the reservations cr created, in every region and for every test, judged by
//! the rules of [`cr_core::orphans`]; `--cancel` releases the orphans.

use std::collections::BTreeSet;
use std::process::ExitCode;

use cr_core::orphans::{self, OrphanRules};
use cr_core::{Reservation, Result};

use crate::args::{OrphansArgs, Output};
use crate::commands::{Context, open_backend};
use crate::output;

pub async fn run(context: &Context<'_>, args: &OrphansArgs) -> Result<ExitCode> {
    let (params, backend) = open_backend(context, Some(&args.backend)).await?;
    if let Some(note) =
        crate::commands::reserve::cleanup_scope_note(backend.cloud(), &params, "search")
        && !context.global.verbosity.quiet
    {
        eprintln!("cr: note: {note}");
    }
    let rules = OrphanRules {
        older_than: args.older_than,
        unused_for: args.unused_for,
        finished_tests: args.finished_test.iter().cloned().collect::<BTreeSet<_>>(),
    };
    let listing = backend.find_created().await;
    let listing = match listing {
        Ok(l) => l,
        Err(e) => {
            context.settle();
            return Err(e);
        }
    };
    let now = jiff::Timestamp::now();
    let assessed = orphans::assess(listing.clone(), &rules, now);
    let chosen: Vec<Reservation> = assessed
        .iter()
        .filter(|a| a.is_orphan())
        .map(|a| a.reservation.clone())
        .collect();
    let report = if args.cancel {
        Some(backend.cancel_created(&listing, &chosen).await?)
    } else {
        None
    };
    context.settle();
    let found = output::Orphans {
        backend: backend.cloud(),
        now,
        rules: &rules,
        assessed: &assessed,
        all: args.all,
        report: report.as_ref(),
    };
    match context.global.output {
        Output::Json => output::json(&output::orphans_json(&found)),
        Output::Text => output::text(&output::orphans_text(&found)),
    }
    match &report {
        Some(r) if !r.is_complete() => {
            let ids: Vec<String> = r
                .failed
                .iter()
                .map(|l| format!("{} ({})", l.id, l.place()))
                .collect();
            eprintln!(
                "error: {} orphaned reservation(s) could not be cancelled and are still held: {}; \
                 rerun `cr orphans --backend {} --cancel` with the same options",
                r.failed.len(),
                ids.join(", "),
                backend.cloud()
            );
            // The documented code of "still held".
            Ok(ExitCode::from(5))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
