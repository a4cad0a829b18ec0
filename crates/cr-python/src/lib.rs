//! `cr._native`: the Python package's bridge to cr-facade.
//!
//! The Python layer (`python/cr/__init__.py`) gives the reference interface — classes per
//! cloud, the exception hierarchy, docstrings — and hands every call to the functions here as
//! JSON text: the configuration mapping in, the result document out, and on failure a
//! [`NativeError`] whose argument is the failure document (kind, cloud, region, zone,
//! instance type, code, message, request id, zones tried, still held). No reservation logic
//! lives here: each call builds (or reuses) a cr-facade backend and runs it on one shared
//! tokio runtime with the GIL released. A reserve watches for Ctrl-C (Python's pending
//! signals) while it runs and turns it into the engine's cancellation, so everything it
//! reserved is released before `KeyboardInterrupt` reaches Python.
#![deny(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use cr_core::error::{CloudError, Error, Leftover};
use cr_core::progress::{Event, Progress};
use cr_core::registry::BackendOptions;
use cr_core::{CancelReport, CancellationToken, CapacityReservation, Params, ReservationSet};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use serde_json::{Value, json};

pyo3::create_exception!(
    _native,
    NativeError,
    PyException,
    "A cr failure; its argument is the failure document as JSON."
);

/// Where a mapping's values come from, in error messages.
const MAPPING_SOURCE: &str = "params (the mapping passed to cr)";

/// The runtime every call runs on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("cr")
            .build()
            .expect("a tokio runtime starts")
    })
}

/// The backend each class used last (per canonical backend name), so `get_id` and
/// `instance_target` answer from what `reserve` or `discover` found in this process.
fn cache() -> &'static Mutex<HashMap<&'static str, Arc<dyn CapacityReservation>>> {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Arc<dyn CapacityReservation>>>> =
        OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The failure document of `e` (the same fields as `cr --output json`'s, docs/python.md).
fn error_document(e: &Error) -> Value {
    let cloud_error = |c: &CloudError| {
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
        })
    };
    let mut cause = e;
    let mut still_held: &[Leftover] = &[];
    if let Error::RollbackFailed {
        cause: c,
        leftovers,
    } = e
    {
        cause = c;
        still_held = leftovers;
    }
    let zones_tried: Vec<Value> = match cause {
        Error::NoZoneAvailable { attempts, .. } => attempts
            .iter()
            .map(|a| json!({"zone": a.zone, "error": cloud_error(&a.error)}))
            .collect(),
        Error::QuotaExhausted {
            attempts, error, ..
        } => attempts
            .iter()
            .map(|a| json!({"zone": a.zone, "error": cloud_error(&a.error)}))
            .chain(
                error
                    .location
                    .zone
                    .as_ref()
                    .map(|z| json!({"zone": z, "error": cloud_error(error)})),
            )
            .collect(),
        _ => Vec::new(),
    };
    let config = match cause {
        Error::InvalidConfig(c) => json!(c),
        _ => Value::Null,
    };
    json!({
        "kind": e.kind(),
        "message": e.to_string(),
        "cloud_error": e.cloud_error().or_else(|| cause.cloud_error()).map(cloud_error),
        "zones_tried": zones_tried,
        "still_held": still_held,
        "config": config,
    })
}

fn fail(e: &Error) -> PyErr {
    NativeError::new_err(error_document(e).to_string())
}

fn usage(message: String) -> PyErr {
    fail(&Error::UnknownBackend(message))
}

/// The configuration: the mapping (JSON text of an object, if given) under the files, then
/// the process's `SCT_*` variables, then cr's defaults.
fn load_params(mapping: Option<&str>, files: &[String]) -> Result<Params, Error> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    match mapping {
        None => Params::load(&files, &env),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Params::from_mapping(MAPPING_SOURCE, map, &files, &env),
            Ok(_) => Err(Error::ConfigFile {
                path: MAPPING_SOURCE.into(),
                message: "params must be a mapping of configuration keys".into(),
            }),
            Err(e) => Err(Error::ConfigFile {
                path: MAPPING_SOURCE.into(),
                message: format!("not JSON-serialisable: {e}"),
            }),
        },
    }
}

/// Backend options from the keyword arguments (JSON text of an object).
fn options(text: &str, progress: Progress) -> Result<BackendOptions, Error> {
    let v: Value = serde_json::from_str(text).map_err(|e| Error::Other(e.to_string()))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let env = v
        .get("env")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Ok(BackendOptions {
        endpoint: s("endpoint"),
        ca_bundle: s("ca_bundle").map(PathBuf::from),
        reserve_deadline: v
            .get("reserve_timeout")
            .and_then(Value::as_f64)
            .filter(|t| *t > 0.0)
            .map(Duration::from_secs_f64),
        env,
        progress,
        ..BackendOptions::default()
    })
}

/// A progress sink calling `callback(event_json)` with the GIL held; a callback that raises
/// is reported once on stderr (`sys.unraisablehook`) and the reserve goes on.
fn progress_of(callback: Option<Py<PyAny>>) -> Progress {
    match callback {
        None => Progress::none(),
        Some(cb) => Progress::new(move |e: &Event| {
            let text = serde_json::to_string(e).unwrap_or_default();
            Python::attach(|py| {
                if let Err(err) = cb.call1(py, (text,)) {
                    err.write_unraisable(py, None);
                }
            });
        }),
    }
}

/// The canonical name of `backend` (an alias such as `gcp` included).
fn canonical(backend: &str) -> Result<&'static str, Error> {
    Ok(cr_facade::registration(backend)?.name)
}

/// Runs `future` on the runtime with the GIL released, turning Ctrl-C into `cancel` (the
/// future then finishes its rollback before this returns).
fn run<T: Send + 'static>(
    py: Python<'_>,
    cancel: Option<CancellationToken>,
    future: impl std::future::Future<Output = T> + Send + 'static,
) -> PyResult<T> {
    let handle = runtime().spawn(future);
    let (tx, rx) = std::sync::mpsc::channel();
    // A `Receiver` is not `Sync`; waiting happens with the GIL released, on this thread.
    let rx = Mutex::new(rx);
    runtime().spawn(async move {
        let _ = tx.send(handle.await);
    });
    let mut interrupted: Option<PyErr> = None;
    loop {
        let waited = py.detach(|| {
            rx.lock()
                .unwrap_or_else(|p| p.into_inner())
                .recv_timeout(Duration::from_millis(100))
        });
        match waited {
            Ok(Ok(value)) => {
                return match interrupted {
                    Some(e) => Err(e),
                    None => Ok(value),
                };
            }
            Ok(Err(join)) => return Err(usage(format!("cr's task failed: {join}"))),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if interrupted.is_none()
                    && let Err(signal) = py.check_signals()
                {
                    match &cancel {
                        // Roll back first; the signal's exception follows once nothing is held.
                        Some(token) => {
                            token.cancel();
                            interrupted = Some(signal);
                        }
                        None => return Err(signal),
                    }
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(usage("cr's task ended without an answer".into()));
            }
        }
    }
}

/// Builds the backend `backend` for `params` with `options` (no cloud call).
fn build(
    py: Python<'_>,
    backend: &str,
    params: &Params,
    options: BackendOptions,
) -> PyResult<Arc<dyn CapacityReservation>> {
    let (name, params) = (backend.to_string(), params.clone());
    let built = run(py, None, async move {
        cr_facade::backend_named(&name, &params, options).await
    })?;
    Ok(Arc::from(built.map_err(|e| fail(&e))?))
}

fn remember(backend: &str, b: &Arc<dyn CapacityReservation>) -> Result<(), Error> {
    let name = canonical(backend)?;
    cache()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name, b.clone());
    Ok(())
}

fn cached(backend: &str) -> Result<Option<Arc<dyn CapacityReservation>>, Error> {
    let name = canonical(backend)?;
    Ok(cache()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(name)
        .cloned())
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// The reservation set as the Python layer returns it: the set plus each reservation's
/// `instance_target`.
fn set_document(set: &ReservationSet, backend: &dyn CapacityReservation) -> String {
    cr_core::backend::set_with_instance_targets(set, backend).to_string()
}

fn report_document(report: &CancelReport) -> String {
    let mut v = serde_json::to_value(report).unwrap_or(Value::Null);
    v["complete"] = json!(report.is_complete());
    v.to_string()
}

/// `plan(backend, params_json, files)`: the capacity plan as JSON (offline).
#[pyfunction]
#[pyo3(signature = (backend, params, files))]
fn plan(backend: &str, params: Option<&str>, files: Vec<String>) -> PyResult<String> {
    let params = load_params(params, &files).map_err(|e| fail(&e))?;
    let cloud = match cr_facade::registration(backend) {
        Ok(r) => r.cloud,
        Err(e) => backend.parse().map_err(|_| fail(&e))?,
    };
    let plan = cr_core::CapacityPlan::build(&params, cloud, jiff_now()).map_err(|e| fail(&e))?;
    Ok(to_json(&plan))
}

fn jiff_now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

/// `is_enabled(backend, params_json, files)`.
#[pyfunction]
#[pyo3(signature = (backend, params, files))]
fn is_enabled(backend: &str, params: Option<&str>, files: Vec<String>) -> PyResult<bool> {
    let params = load_params(params, &files).map_err(|e| fail(&e))?;
    let cloud = cr_facade::registration(backend)
        .map_err(|e| fail(&e))?
        .cloud;
    let plan = cr_core::CapacityPlan::build(&params, cloud, jiff_now()).map_err(|e| fail(&e))?;
    Ok(plan.enabled)
}

/// `reserve(backend, params_json, files, options_json, progress)`: the reservation set as
/// JSON. Ctrl-C rolls back, then raises.
#[pyfunction]
#[pyo3(signature = (backend, params, files, options_json, progress=None))]
fn reserve(
    py: Python<'_>,
    backend: &str,
    params: Option<&str>,
    files: Vec<String>,
    options_json: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let params = load_params(params, &files).map_err(|e| fail(&e))?;
    let options = options(options_json, progress_of(progress)).map_err(|e| fail(&e))?;
    let b = build(py, backend, &params, options)?;
    let cancel = CancellationToken::new();
    let (task, token) = (b.clone(), cancel.clone());
    let result = run(py, Some(cancel), async move {
        task.reserve_until(&params, token).await
    })?;
    let set = result.map_err(|e| fail(&e))?;
    remember(backend, &b).map_err(|e| fail(&e))?;
    Ok(set_document(&set, b.as_ref()))
}

/// `discover(backend, params_json, files, options_json)`: what the test holds, as JSON.
#[pyfunction]
#[pyo3(signature = (backend, params, files, options_json))]
fn discover(
    py: Python<'_>,
    backend: &str,
    params: Option<&str>,
    files: Vec<String>,
    options_json: &str,
) -> PyResult<String> {
    let params = load_params(params, &files).map_err(|e| fail(&e))?;
    let options = options(options_json, Progress::none()).map_err(|e| fail(&e))?;
    let b = build(py, backend, &params, options)?;
    let task = b.clone();
    let set = run(py, None, async move { task.discover(&params).await })?.map_err(|e| fail(&e))?;
    remember(backend, &b).map_err(|e| fail(&e))?;
    Ok(set_document(&set, b.as_ref()))
}

/// The backend that knows the test's reservations: the cached one, else one built from the
/// configuration that has discovered them from the cloud (another process reserved).
fn knowing(
    py: Python<'_>,
    backend: &str,
    params: Option<&str>,
    files: &[String],
    options_json: &str,
) -> PyResult<Arc<dyn CapacityReservation>> {
    if let Some(b) = cached(backend).map_err(|e| fail(&e))? {
        return Ok(b);
    }
    let params = load_params(params, files).map_err(|e| fail(&e))?;
    let options = options(options_json, Progress::none()).map_err(|e| fail(&e))?;
    let b = build(py, backend, &params, options)?;
    let task = b.clone();
    run(py, None, async move { task.discover(&params).await })?.map_err(|e| fail(&e))?;
    remember(backend, &b).map_err(|e| fail(&e))?;
    Ok(b)
}

/// `get_id(backend, zone, instance_type, params_json, files, options_json)`.
#[pyfunction]
#[pyo3(signature = (backend, zone, instance_type, params, files, options_json))]
fn get_id(
    py: Python<'_>,
    backend: &str,
    zone: &str,
    instance_type: &str,
    params: Option<&str>,
    files: Vec<String>,
    options_json: &str,
) -> PyResult<Option<String>> {
    let b = knowing(py, backend, params, &files, options_json)?;
    Ok(b.get_id(zone, instance_type)
        .map_err(|e| fail(&e))?
        .map(|id| id.0))
}

/// `instance_target(backend, zone, instance_type, params_json, files, options_json)`: JSON.
#[pyfunction]
#[pyo3(signature = (backend, zone, instance_type, params, files, options_json))]
fn instance_target(
    py: Python<'_>,
    backend: &str,
    zone: &str,
    instance_type: &str,
    params: Option<&str>,
    files: Vec<String>,
    options_json: &str,
) -> PyResult<Option<String>> {
    let b = knowing(py, backend, params, &files, options_json)?;
    Ok(b.instance_target(zone, instance_type)
        .map_err(|e| fail(&e))?
        .map(|t| t.to_string()))
}

/// `cancel(backend, params_json, files, options_json, progress)`: the cancel report as JSON.
#[pyfunction]
#[pyo3(signature = (backend, params, files, options_json, progress=None))]
fn cancel(
    py: Python<'_>,
    backend: &str,
    params: Option<&str>,
    files: Vec<String>,
    options_json: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let params = load_params(params, &files).map_err(|e| fail(&e))?;
    let options = options(options_json, progress_of(progress)).map_err(|e| fail(&e))?;
    let b = match cached(backend).map_err(|e| fail(&e))? {
        Some(b) => b,
        None => build(py, backend, &params, options)?,
    };
    let task = b.clone();
    let report = run(py, None, async move { task.cancel(&params).await })?.map_err(|e| fail(&e))?;
    Ok(report_document(&report))
}

/// `cancel_all_regions(backend, test_id, params_json, files, options_json, progress)`: the
/// report as JSON (the configuration only supplies settings such as `gce_project`).
#[pyfunction]
#[pyo3(signature = (backend, test_id, params, files, options_json, progress=None))]
fn cancel_all_regions(
    py: Python<'_>,
    backend: &str,
    test_id: &str,
    params: Option<&str>,
    files: Vec<String>,
    options_json: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    if test_id.trim().is_empty() {
        return Err(fail(&Error::config(
            "the call",
            "test_id",
            "",
            "a test id (reservations are found by their TestId tag)",
        )));
    }
    let params = load_params(params, &files).map_err(|e| fail(&e))?;
    let options = options(options_json, progress_of(progress)).map_err(|e| fail(&e))?;
    let b = build(py, backend, &params, options)?;
    let (task, id) = (b.clone(), test_id.to_string());
    let report =
        run(py, None, async move { task.cancel_all_regions(&id).await })?.map_err(|e| fail(&e))?;
    Ok(report_document(&report))
}

/// The backends compiled into this module.
#[pyfunction]
fn compiled_backends() -> Vec<&'static str> {
    cr_facade::compiled_backends()
}

/// The Python module `cr._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    m.add_function(wrap_pyfunction!(plan, m)?)?;
    m.add_function(wrap_pyfunction!(is_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(reserve, m)?)?;
    m.add_function(wrap_pyfunction!(discover, m)?)?;
    m.add_function(wrap_pyfunction!(get_id, m)?)?;
    m.add_function(wrap_pyfunction!(instance_target, m)?)?;
    m.add_function(wrap_pyfunction!(cancel, m)?)?;
    m.add_function(wrap_pyfunction!(cancel_all_regions, m)?)?;
    m.add_function(wrap_pyfunction!(compiled_backends, m)?)?;
    Ok(())
}
