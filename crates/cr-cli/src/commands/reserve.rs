//! `cr reserve`, `cr cancel` and `cr cleanup`.

use std::process::ExitCode;

use cr_core::{CancellationToken, CapacityPlan, Cloud, Error, Params, Result};

use crate::args::Output;
use crate::commands::{Context, backend_name, cloud_of, load_params, open_backend};
use crate::output;

pub async fn reserve(
    context: &Context<'_>,
    explicit: Option<&str>,
    preflight: bool,
) -> Result<ExitCode> {
    let global = context.global;
    // Listening from the start: a SIGINT or SIGTERM while the configuration is read or the
    // backend is built (credentials, clients; nothing reserved yet) stops cleanly with 130
    // instead of killing the process.
    let mut signals = Signals::install();
    // Switched off is not a failure: pipelines call `cr reserve` unconditionally, as SCT calls
    // its own reservation code, and carry on without reservations. Decided offline, before
    // any credential is read.
    let params = load_params(global)?;
    let cloud = cloud_of(&backend_name(&params, explicit)?)?;
    let plan = CapacityPlan::build(&params, cloud, jiff::Timestamp::now())?;
    if let Some(reason) = &plan.disabled_reason {
        eprintln!(
            "cr: nothing reserved: capacity reservation is disabled for backend {cloud}: {reason}"
        );
        if global.output == Output::Json {
            output::json(&serde_json::json!({
                "schema": output::SCHEMA,
                "ok": true,
                "reserved": false,
                "disabled_reason": reason,
            }));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (params, backend) = tokio::select! {
        // A signal already received wins over a backend that is ready.
        biased;
        name = signals.next() => {
            context.settle();
            eprintln!("cr: {name} received before anything was reserved: stopping");
            return Err(Error::Interrupted {
                operation: "reserve".into(),
                reason: name.into(),
            });
        }
        opened = open_backend(context, explicit) => opened?,
    };
    if preflight {
        let report = backend.preflight(&params).await?;
        if !report.can_reserve() {
            context.settle();
            eprint!("{}", output::preflight_text(&report));
            eprintln!("error: cr reserve --preflight: nothing was reserved");
            if global.output == Output::Json {
                output::json(&output::preflight_json(&report));
            }
            return Ok(super::doctor::exit_code(&report));
        }
        tracing::info!(
            findings = report.findings.len(),
            "preflight: reserving can work"
        );
    }
    let cancel = CancellationToken::new();
    let cleanup_hint = format!(
        "cr cleanup --backend {} --test-id {}",
        backend.cloud(),
        params.test_id.as_deref().unwrap_or("<test id>")
    );
    let signals = tokio::spawn(stop_on_signals(signals, cancel.clone(), cleanup_hint));
    let result = backend.reserve_until(&params, cancel).await;
    signals.abort();
    context.settle();
    let set = result?;
    match global.output {
        Output::Json => output::json(&output::set_json(&set, backend.as_ref())),
        Output::Text => output::text(&output::set_text(&set)),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn cancel(context: &Context<'_>, explicit: Option<&str>) -> Result<ExitCode> {
    let (params, backend) = open_backend(context, explicit).await?;
    let report = backend.cancel(&params).await;
    context.settle();
    output::report(context.global.output, &report?)
}

pub async fn cleanup(
    context: &Context<'_>,
    backend_name: &str,
    test_id: &str,
    dry_run: bool,
) -> Result<ExitCode> {
    // Cleanup needs no configuration, but settings in --config files still apply.
    let (params, backend) = open_backend(context, Some(backend_name)).await?;
    if let Some(note) = cleanup_scope_note(backend.cloud(), &params, "cleanup")
        && !context.global.verbosity.quiet
    {
        eprintln!("cr: note: {note}");
    }
    if dry_run {
        // Listings only: nothing is cancelled and no region is finished.
        let preview = backend.preview_cancel_all_regions(test_id).await;
        context.settle();
        output::preview(context.global.output, backend.cloud(), &preview?);
        return Ok(ExitCode::SUCCESS);
    }
    let report = backend.cancel_all_regions(test_id).await;
    context.settle();
    output::report(context.global.output, &report?)
}

/// What a cleanup cannot see with this configuration, if anything: OCI lists reservations one
/// compartment at a time, and without `oci_compartment_id` cleanup lists the tenancy's root
/// compartment only (the crash experiments found a run's reservations left in its configured
/// compartment while cleanup reported nothing to cancel).
pub(crate) fn cleanup_scope_note(cloud: Cloud, params: &Params, what: &str) -> Option<String> {
    let configured = params
        .oci_compartment_id
        .as_deref()
        .is_some_and(|c| !c.trim().is_empty());
    (cloud == Cloud::Oci && !configured).then(|| {
        format!(
            "no oci_compartment_id is configured, so this {what} searched the tenancy's root \
             compartment only (OCI lists reservations one compartment at a time); if the run \
             reserved in another compartment, run it again with that run's --config files or \
             SCT_OCI_COMPARTMENT_ID"
        )
    })
}

/// The first SIGINT or SIGTERM cancels the reserve (creates in flight finish, everything is
/// released, exit 130); a second one exits at once, saying what may be left and how to
/// remove it.
async fn stop_on_signals(mut signals: Signals, cancel: CancellationToken, cleanup_hint: String) {
    let first = signals.next().await;
    eprintln!(
        "cr: {first} received: stopping; letting the creates in flight finish and releasing \
         everything reserved (send it again to exit at once)"
    );
    cancel.cancel();
    let second = signals.next().await;
    eprintln!(
        "cr: {second} received again: exiting now; reservations of this test may be left \
         behind (each ends by itself at its end time); remove them with: {cleanup_hint}"
    );
    std::process::exit(130);
}

/// SIGINT (Ctrl-C) and, on Unix, SIGTERM, listened for from [`Signals::install`] on: one
/// that arrives before [`Signals::next`] is first awaited is not lost (and does not kill the
/// process).
struct Signals {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the handlers now.
    fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                int: signal(SignalKind::interrupt()).ok(),
                term: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    /// Waits for the next SIGINT or SIGTERM; names the one that came.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                let came = match s {
                    Some(s) => s.recv().await.is_some(),
                    None => false,
                };
                // `false`: no handler, or the runtime is shutting down; no signal came.
                if !came {
                    std::future::pending::<()>().await;
                }
            }
            tokio::select! {
                () = recv(&mut self.int) => "SIGINT",
                () = recv(&mut self.term) => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
