//! Progress on stderr while a reserve, cancel or cleanup runs: a spinner per reservation
//! while the cloud creates or releases it, a line per zone tried or given up (with the
//! cloud's code), elapsed times. Drawn only when stderr is a terminal and `-q` is not given;
//! the events come from cr-core's engine ([`cr_core::progress`]).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cr_core::progress::{Event, Progress, ReleaseOutcome, Step};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::Verbosity;

/// Whether progress is drawn: stderr is a terminal and `-q` was not given.
pub fn shown(verbosity: Verbosity) -> bool {
    !verbosity.quiet && std::io::stderr().is_terminal()
}

/// The default log filter when `CR_LOG` is not set: `-q` errors only; `-v`… info, debug,
/// trace; otherwise warnings, or nothing while progress is drawn (the progress says it).
pub fn log_filter(verbosity: Verbosity, progress: bool) -> &'static str {
    match (verbosity.quiet, verbosity.verbose) {
        (true, _) => "error",
        (false, 0) if progress => "off",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    }
}

/// Draws events on stderr.
pub struct Renderer {
    bars: MultiProgress,
    live: Mutex<HashMap<String, (ProgressBar, Instant)>>,
    colour: bool,
    started: Instant,
}

impl Renderer {
    /// A renderer drawing on stderr.
    pub fn new(colour: bool) -> Arc<Renderer> {
        Arc::new(Renderer {
            bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            live: Mutex::new(HashMap::new()),
            colour,
            started: Instant::now(),
        })
    }

    /// The engine's progress sink, drawing through `renderer`.
    pub fn sink(renderer: &Arc<Renderer>) -> Progress {
        let renderer = renderer.clone();
        Progress::new(move |e: &Event| renderer.draw(e))
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn ok(&self) -> String {
        self.paint("32", "✓")
    }

    fn bad(&self) -> String {
        self.paint("31", "✗")
    }

    fn line(&self, text: String) {
        let _ = self.bars.println(text);
    }

    fn spin(&self, key: String, message: String) {
        let bar = self.bars.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut live) = self.live.lock()
            && let Some((old, _)) = live.insert(key, (bar, Instant::now()))
        {
            old.finish_and_clear();
        }
    }

    fn done(&self, key: &str, message: String) {
        let entry = self.live.lock().ok().and_then(|mut l| l.remove(key));
        match entry {
            Some((bar, since)) => {
                bar.finish_and_clear();
                self.bars.remove(&bar);
                self.line(format!("  {message} ({})", seconds(since.elapsed())));
            }
            None => self.line(format!("  {message}")),
        }
    }

    fn draw(&self, event: &Event) {
        match event {
            Event::RegionStarted { region, zones } if !zones.is_empty() => {
                self.line(format!(
                    "{region}: zones to try, in order: {}",
                    zones.join(", ")
                ));
            }
            Event::ZoneSkipped {
                region,
                zone,
                reason,
            } => self.line(format!("{region}: skipping {zone}: {reason}")),
            Event::ZoneStarted { region, zone } => {
                self.line(format!("{region}: reserving in {zone}"));
            }
            Event::Created {
                reservation,
                pending,
            } => {
                let what = describe(reservation);
                if *pending {
                    self.spin(
                        create_key(reservation),
                        format!("{what}: {} being created", reservation.id),
                    );
                }
            }
            Event::Ready { reservation } => {
                let what = describe(reservation);
                self.done(
                    &create_key(reservation),
                    format!("{} {what}: {} active", self.ok(), reservation.id),
                );
            }
            Event::CreateFailed {
                reservation,
                code,
                message,
                ..
            } => {
                // The zone's line that follows carries the cloud's message.
                let why = code.as_deref().unwrap_or(message);
                self.done(
                    &create_key(reservation),
                    format!(
                        "{} {}: {} failed: {why}",
                        self.bad(),
                        describe(reservation),
                        reservation.id
                    ),
                );
            }
            Event::ZoneFailed {
                region,
                zone,
                instance_type,
                code,
                message,
                ..
            } => {
                let code = code
                    .as_deref()
                    .map(|c| format!("{c}: "))
                    .unwrap_or_default();
                self.line(format!(
                    "{} {region} {zone}: cannot hold {instance_type}: {code}{message}",
                    self.bad()
                ));
            }
            Event::NotReused {
                reservation,
                reason,
                kept_until_replaced,
            } => self.line(format!(
                "{}: {} {} ({}) held from an earlier run: {reason}",
                reservation.region,
                if *kept_until_replaced {
                    "keeping until the new set is reserved, then releasing,"
                } else {
                    "releasing"
                },
                reservation.id,
                describe(reservation)
            )),
            Event::Held { reservation } => self.line(format!(
                "{} {} {}: using {} ({}), already held by the test, instead of creating it",
                self.ok(),
                reservation.region,
                reservation.zone.as_deref().unwrap_or("the region"),
                reservation.id,
                describe(reservation)
            )),
            Event::Reused {
                region,
                zone,
                count,
            } => self.line(format!(
                "{} {region}: reusing the test's {count} reservations in {}",
                self.ok(),
                zone.as_deref().unwrap_or("the region")
            )),
            Event::RegionReserved { region, zone } => self.line(format!(
                "{} {region}: reserved in {} after {}",
                self.ok(),
                zone.as_deref().unwrap_or("the region (any zone)"),
                seconds(self.started.elapsed())
            )),
            Event::Releasing { reservation } => self.spin(
                release_key(reservation),
                format!("releasing {} ({})", reservation.id, describe(reservation)),
            ),
            Event::Released {
                reservation,
                outcome,
            } => {
                let (mark, what) = match outcome {
                    ReleaseOutcome::Cancelled => (self.ok(), "released"),
                    ReleaseOutcome::AlreadyGone => (self.ok(), "already gone"),
                    ReleaseOutcome::Failed => (self.bad(), "NOT released (see the error)"),
                };
                self.done(
                    &release_key(reservation),
                    format!(
                        "{mark} {} ({}): {what}",
                        reservation.id,
                        describe(reservation)
                    ),
                );
            }
            _ => {}
        }
    }

    /// Clears whatever is still spinning (the command is over).
    pub fn finish(&self) {
        if let Ok(mut live) = self.live.lock() {
            for (_, (bar, _)) in live.drain() {
                bar.finish_and_clear();
            }
        }
        let _ = self.bars.clear();
    }
}

fn describe(r: &Step) -> String {
    format!(
        "{} x{} in {}",
        r.instance_type,
        r.count,
        r.zone.as_deref().unwrap_or(&r.region)
    )
}

fn create_key(r: &Step) -> String {
    format!("create:{}", r.id)
}

fn release_key(r: &Step) -> String {
    format!("release:{}", r.id)
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_off_while_progress_is_drawn_unless_asked_for() {
        let v = |quiet, verbose| Verbosity { quiet, verbose };
        assert_eq!(log_filter(v(false, 0), true), "off");
        assert_eq!(log_filter(v(false, 0), false), "warn");
        assert_eq!(log_filter(v(true, 0), false), "error");
        assert_eq!(log_filter(v(false, 1), true), "info");
        assert_eq!(log_filter(v(false, 2), false), "debug");
        assert_eq!(log_filter(v(false, 5), false), "trace");
    }
}
