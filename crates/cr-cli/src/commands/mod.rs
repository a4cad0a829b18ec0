//! The subcommands.

#[cfg(feature = "emulator")]
mod emulator;
#[cfg(not(feature = "emulator"))]
mod emulator {
    use std::process::ExitCode;

    use cr_core::Result;

    use crate::args::{EmulatorArgs, Output};

    pub async fn run(_output: Output, _args: &EmulatorArgs) -> Result<ExitCode> {
        Err(crate::embedded::not_built())
    }
}
mod doctor;
mod inspect;
mod orphans;
mod plan;
mod reserve;

use std::process::ExitCode;

use cr_core::registry::BackendOptions;
use cr_core::{CapacityReservation, Cloud, Error, Params, Result};

use std::io::IsTerminal;

use cr_core::progress::Progress;

use crate::args::{Cli, Command, Global, Verbosity};
use crate::embedded::Embedded;
use crate::{output, progress};

/// Runs the parsed command line.
pub async fn run(global: Global, command: &Command) -> Result<ExitCode> {
    match command {
        Command::Emulator(args) => emulator::run(global.output, args).await,
        Command::Permissions(args) => inspect::permissions(&global, &args.backend),
        Command::Plan(args) => plan::run(&global, args.backend.backend.as_deref()),
        Command::Completions(args) => {
            let mut cli = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(args.shell, &mut cli, "cr", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let cli = <Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            clap_mangen::Man::new(cli)
                .render(&mut page)
                .map_err(|e| Error::Other(format!("cannot render the manual page: {e}")))?;
            output::text(&String::from_utf8_lossy(&page));
            Ok(ExitCode::SUCCESS)
        }
        command => {
            // Every other command talks to a cloud: the real one, or an embedded emulator.
            let embedded = if global.emulator {
                Some(
                    Embedded::start(
                        global.emulator_scenario.as_deref(),
                        note_shown(global.verbosity),
                    )
                    .await?,
                )
            } else {
                None
            };
            let renderer = progress::shown(global.verbosity)
                .then(|| progress::Renderer::new(output::stderr_colour()));
            let context = Context {
                global: &global,
                embedded: embedded.as_ref(),
                progress: renderer
                    .as_ref()
                    .map(progress::Renderer::sink)
                    .unwrap_or_default(),
                renderer: renderer.clone(),
            };
            let result = match command {
                Command::Reserve(args) => {
                    reserve::reserve(&context, args.backend.backend.as_deref(), args.preflight)
                        .await
                }
                Command::Doctor(args) => {
                    doctor::run(&context, args.backend.backend.as_deref()).await
                }
                Command::Status(args) => {
                    inspect::status(&context, args.backend.backend.as_deref()).await
                }
                Command::Cancel(args) => {
                    reserve::cancel(&context, args.backend.backend.as_deref()).await
                }
                Command::Cleanup(args) => {
                    reserve::cleanup(&context, &args.backend, &args.test_id, args.dry_run).await
                }
                Command::Orphans(args) => orphans::run(&context, args).await,
                _ => unreachable!("handled above"),
            };
            if let Some(r) = &renderer {
                r.finish();
            }
            if let Some(e) = embedded {
                e.shutdown().await;
            }
            result
        }
    }
}

/// What a command talking to a cloud runs with.
pub(crate) struct Context<'a> {
    pub global: &'a Global,
    pub embedded: Option<&'a Embedded>,
    /// Where the engine reports progress (nowhere unless drawn on a terminal).
    pub progress: Progress,
    renderer: Option<std::sync::Arc<progress::Renderer>>,
}

impl Context<'_> {
    /// Ends the progress display: the command's result follows on stdout.
    pub fn settle(&self) {
        if let Some(r) = &self.renderer {
            r.finish();
        }
    }
}

/// Notes such as the embedded emulator's are for people: shown on a terminal or with `-v`.
fn note_shown(verbosity: Verbosity) -> bool {
    !verbosity.quiet && (verbosity.verbose > 0 || std::io::stderr().is_terminal())
}

/// The configuration from `--config` files and `SCT_*` variables.
pub(crate) fn load_params(global: &Global) -> Result<Params> {
    Params::load_with_process_env(&global.config)
}

/// The backend name: `--backend`, else the configuration's `cluster_backend`.
pub(crate) fn backend_name(params: &Params, explicit: Option<&str>) -> Result<String> {
    if let Some(name) = explicit {
        return Ok(name.to_string());
    }
    params
        .cluster_backend
        .clone()
        .filter(|name| !name.trim().is_empty())
        .ok_or_else(|| {
            Error::config(
                cluster_backend_source(params),
                "cluster_backend",
                params.display_raw("cluster_backend"),
                "one of aws, gce, azure, oci (set it in a --config file, SCT_CLUSTER_BACKEND, or pass --backend)",
            )
        })
}

/// Where `cluster_backend` came from, for messages: its file or variable, else the files given.
fn cluster_backend_source(params: &Params) -> String {
    match params.raw.get("cluster_backend") {
        Some(v) => v.source.clone(),
        None => "the configuration (no --config file or SCT_CLUSTER_BACKEND sets it)".into(),
    }
}

/// The cloud of a backend name (canonical name or alias of a compiled-in backend).
pub(crate) fn cloud_of(name: &str) -> Result<Cloud> {
    match cr_facade::registration(name) {
        Ok(r) => Ok(r.cloud),
        // `plan` works offline, even for a backend that is not compiled in.
        Err(e) => name.parse::<Cloud>().map_err(|_| e),
    }
}

/// Options pointing backends at `--endpoint`/`--ca-bundle`, or at the embedded emulator.
pub(crate) fn backend_options(context: &Context<'_>) -> BackendOptions {
    let global = context.global;
    let mut options = BackendOptions {
        endpoint: global.endpoint.clone(),
        ca_bundle: global.ca_bundle.clone(),
        reserve_deadline: global.reserve_timeout.map(std::time::Duration::from_secs),
        progress: context.progress.clone(),
        ..BackendOptions::default()
    };
    if let Some(e) = context.embedded {
        e.configure(&mut options);
    }
    options
}

/// Loads the configuration and builds its backend (`explicit` overrides `cluster_backend`).
pub(crate) async fn open_backend(
    context: &Context<'_>,
    explicit: Option<&str>,
) -> Result<(Params, Box<dyn CapacityReservation>)> {
    let params = load_params(context.global)?;
    let name = backend_name(&params, explicit)?;
    let backend = match cr_facade::backend_named(&name, &params, backend_options(context)).await {
        // Name where the bad name came from, as every other configuration error does.
        Err(Error::UnknownBackend(why)) => {
            let source = match explicit {
                Some(_) => "the command line (--backend)".to_string(),
                None => cluster_backend_source(&params),
            };
            return Err(Error::config(source, "cluster_backend", name, why));
        }
        other => other?,
    };
    Ok((params, backend))
}
