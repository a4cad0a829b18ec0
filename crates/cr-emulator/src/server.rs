//! The HTTP side: the shared [`AppState`], the router every cloud module plugs into, the
//! request-log middleware, and the listeners (plain HTTP and HTTPS, both on 127.0.0.1,
//! both serving every protocol).
//!
//! # How a cloud module plugs in
//!
//! A cloud lives in `src/<cloud>/mod.rs` and exposes:
//! - `pub struct State` with `pub fn new() -> State`, `pub fn reset(&self)` (forget every
//!   resource) and `pub fn sweep(&self, world: &World)` (advance time-driven transitions:
//!   expiry, long-running operations; called before control reads and every 200 ms);
//! - `pub fn routes() -> axum::Router<AppState>`, merged here into one router.
//!
//! A handler takes `State(app): State<AppState>`, calls `app.world.admit(cloud, op).await`
//! first (latency and fault decision), does its work against its own `State` and the shared
//! [`crate::world::World`], and tags its response with [`tag`] so that the request log shows the
//! cloud, the operation, the error code and the fault. To simulate a dropped connection it
//! returns [`drop_connection`]. [`BaseUrl`] gives the scheme and host the client used, for
//! absolute URLs in responses (ARM `Location` headers, GCE `selfLink`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::credentials::Credentials;
use crate::scenario::FaultKind;
use crate::world::{CloudKind, RequestRecord, World};
use crate::{aws, azure, control, gce, oci};

/// Everything a handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Shared capacity, audit, faults and clock.
    pub world: Arc<World>,
    /// EC2 resources.
    pub aws: Arc<aws::State>,
    /// Compute Engine resources.
    pub gce: Arc<gce::State>,
    /// Azure resources.
    pub azure: Arc<azure::State>,
    /// OCI resources.
    pub oci: Arc<oci::State>,
    /// The credentials the APIs accept.
    pub creds: Arc<Credentials>,
    /// The listeners' base URLs (`http://127.0.0.1:P`, `https://127.0.0.1:Q`), filled in
    /// once they are bound.
    pub urls: Arc<std::sync::OnceLock<(String, String)>>,
}

impl AppState {
    /// Fresh state for every cloud.
    pub fn new(world: Arc<World>, creds: Arc<Credentials>) -> AppState {
        AppState {
            world,
            aws: Arc::new(aws::State::new()),
            gce: Arc::new(gce::State::new()),
            azure: Arc::new(azure::State::new()),
            oci: Arc::new(oci::State::new()),
            creds,
            urls: Arc::new(std::sync::OnceLock::new()),
        }
    }

    /// Forgets everything: the world's audit, log and capacity use, and every cloud's
    /// resources.
    pub fn reset(&self) {
        self.world.reset();
        self.aws.reset();
        self.gce.reset();
        self.azure.reset();
        self.oci.reset();
    }

    /// Lets every cloud apply time-driven transitions up to the world clock's now.
    pub fn sweep(&self) {
        self.aws.sweep(&self.world);
        self.gce.sweep(&self.world);
        self.azure.sweep(&self.world);
        self.oci.sweep(&self.world);
    }

    /// The HTTP and HTTPS base URLs (empty before the listeners are bound).
    pub fn base_urls(&self) -> (String, String) {
        self.urls.get().cloned().unwrap_or_default()
    }
}

/// What a handler reports about the request it answered, for the request log. Put it in the
/// response's extensions with [`tag`].
#[derive(Debug, Clone)]
pub struct Tag {
    /// The cloud.
    pub cloud: CloudKind,
    /// Operation name (the same name faults are configured with).
    pub operation: String,
    /// The cloud error code sent, if the answer is an error.
    pub error_code: Option<String>,
    /// The fault injected, if any.
    pub fault: Option<FaultKind>,
}

/// Attaches a [`Tag`] to a response.
pub fn tag(
    response: impl IntoResponse,
    cloud: CloudKind,
    operation: &str,
    error_code: Option<&str>,
    fault: Option<FaultKind>,
) -> Response {
    let mut response = response.into_response();
    response.extensions_mut().insert(Tag {
        cloud,
        operation: operation.to_owned(),
        error_code: error_code.map(str::to_owned),
        fault,
    });
    response
}

/// Marker: drop the connection instead of answering.
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

/// A response that makes the listener close the connection without answering (the
/// `connection_reset` and `hang` faults).
pub fn drop_connection() -> Response {
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(DropConnection);
    response
}

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTPS.
    Https,
}

/// The base URL the client used (`https://127.0.0.1:8443`), from the listener's scheme and
/// the `Host` header (`:authority` for HTTP/2).
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let scheme = match parts.extensions.get::<Scheme>() {
            Some(Scheme::Https) => "https",
            _ => "http",
        };
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        Ok(BaseUrl(format!("{scheme}://{host}")))
    }
}

/// The router with every cloud's routes, the control API and the request log.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(control::routes())
        .merge(aws::routes())
        .merge(gce::routes())
        .merge(azure::routes())
        .merge(oci::routes())
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(state.clone(), log_requests))
        .with_state(state)
}

async fn fallback(req: Request) -> Response {
    let body = serde_json::json!({
        "error": "NotFound",
        "message": format!("cr-emulator has no route for {} {}", req.method(), req.uri().path()),
    });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

/// A request on its way through the handler; it is logged when this is dropped. When the
/// client hangs up (or the emulator shuts down) before the handler answers, hyper drops the
/// request's future, this middleware included: the request is then logged with status 0 and
/// its path as the operation, so the log still counts every call.
struct Unanswered {
    app: AppState,
    started: Instant,
    record: Option<RequestRecord>,
}

impl Unanswered {
    /// Completes the record with the answer; dropping `self` then logs it.
    fn answered(mut self, complete: impl FnOnce(&mut RequestRecord)) {
        if let Some(record) = self.record.as_mut() {
            complete(record);
        }
    }
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            record.latency_ms = self.started.elapsed().as_secs_f64() * 1000.0;
            self.app.world.log_request(record);
        }
    }
}

async fn log_requests(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/_emulator") {
        return next.run(req).await;
    }
    let pending = Unanswered {
        started: Instant::now(),
        record: Some(RequestRecord {
            at: app.world.now(),
            // Which cloud and operation only the handler's answer says.
            cloud: None,
            operation: path.clone(),
            method: req.method().to_string(),
            path,
            status: 0,
            error_code: None,
            fault: None,
            latency_ms: 0.0,
        }),
        app,
    };
    let mut response = next.run(req).await;
    let tag = response.extensions().get::<Tag>().cloned();
    if tag.as_ref().and_then(|t| t.fault) == Some(FaultKind::LostReply) {
        // The handler did its work; the client never hears about it.
        response = drop_connection();
        if let Some(tag) = tag.clone() {
            response.extensions_mut().insert(tag);
        }
    }
    if let Some(tag) = tag.as_ref().filter(|t| t.fault == Some(FaultKind::Garbage))
        && response.extensions().get::<DropConnection>().is_none()
    {
        // The handler did its work; the client is answered with garbage instead.
        let form = app_world(&pending).garbage_form(tag.cloud, &tag.operation);
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        response = crate::garbage::render(tag.cloud, form, status, &body);
        response.extensions_mut().insert(tag.clone());
    }
    let dropped = response.extensions().get::<DropConnection>().is_some();
    let skew = pending.app.world.clock_skew_s();
    if skew != 0 && !dropped {
        // The cloud's `Date` is its own clock (hyper would stamp real time).
        let date = pending
            .app
            .world
            .auth_now()
            .strftime("%a, %d %b %Y %H:%M:%S GMT");
        if let Ok(value) = header::HeaderValue::from_str(&date.to_string()) {
            response.headers_mut().insert(header::DATE, value);
        }
    }
    let status = response.status().as_u16();
    pending.answered(|record| {
        if let Some(tag) = tag {
            record.cloud = Some(tag.cloud);
            record.operation = tag.operation;
            record.error_code = tag.error_code;
            record.fault = tag.fault;
        }
        record.status = if dropped { 0 } else { status };
    });
    response
}

fn app_world(pending: &Unanswered) -> &World {
    &pending.app.world
}

/// The error a connection task returns to hyper to abort the connection.
#[derive(Debug)]
struct ConnectionDropped;

impl std::fmt::Display for ConnectionDropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for ConnectionDropped {}

/// Accepts connections until `shutdown` flips, then aborts the ones still open (including
/// requests held by a `hang` fault).
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let scheme = if tls.is_some() {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    // Out of descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                conns.spawn(serve_connection(stream, tls.clone(), app.clone(), scheme));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    tls: Option<TlsAcceptor>,
    app: Router,
    scheme: Scheme,
) {
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(scheme);
            let app = app.clone();
            async move {
                let response = app.oneshot(req.map(axum::body::Body::new)).await;
                let response = match response {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                if response.extensions().get::<DropConnection>().is_some() {
                    Err(ConnectionDropped)
                } else {
                    Ok(response)
                }
            }
        });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // Errors here are client disconnects, TLS failures and our own dropped connections;
    // there is nobody to report them to.
    match tls {
        Some(acceptor) => {
            if let Ok(stream) = acceptor.accept(stream).await {
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        }
        None => {
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    }
}

/// Binds `127.0.0.1:port` (0 = any free port).
pub(crate) async fn bind(port: u16) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}
