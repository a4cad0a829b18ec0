//! Zone operations: the `compute#operation` resource, its PENDING → RUNNING → DONE life
//! cycle timed by the scenario's `lro_ms` on the world clock, the effects applied when an
//! operation finishes (reservation ready, removed, or creation failed), `get`, `wait` and
//! `list`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::reservations::Status;
use super::{CLOUD, Call, GceError, Inner, begin, gce_time, list_body, list_page};
use crate::server::{AppState, BaseUrl};
use crate::world::{AuditState, World};

/// What an operation does when it finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OpKind {
    Insert,
    Delete,
    /// `instances.insert` (the instance exists from the request on; the operation reports).
    InstanceInsert,
    /// `instances.delete` (the instance is gone from the request on).
    InstanceDelete,
}

/// How a failed operation reports its error.
#[derive(Debug, Clone)]
pub(super) struct OpError {
    pub code: String,
    pub message: String,
    pub http_status: u16,
    pub http_message: &'static str,
    pub details: Value,
}

/// One zone operation.
#[derive(Debug, Clone)]
pub(super) struct Op {
    pub name: String,
    pub id: u64,
    pub zone: String,
    pub kind: OpKind,
    pub target: String,
    pub target_id: u64,
    pub inserted: Timestamp,
    pub done_at: Timestamp,
    pub error: Option<OpError>,
    pub request_id: Option<String>,
    pub applied: bool,
    pub user: String,
}

impl Op {
    pub fn new_name(now: Timestamp) -> String {
        use rand::Rng;
        let mut rng = rand::rng();
        format!(
            "operation-{}-{:013x}-{:08x}-{:08x}",
            now.as_millisecond(),
            rng.random::<u64>() & 0x1f_ffff_ffff_ffff,
            rng.random::<u32>(),
            rng.random::<u32>()
        )
    }

    /// The `compute#operation` JSON.
    pub fn render(&self, call: &Call, now: Timestamp) -> Value {
        let half = self.inserted + self.done_at.duration_since(self.inserted) / 2;
        let (status, progress) = if self.applied {
            ("DONE", 100)
        } else if now >= half {
            ("RUNNING", 50)
        } else {
            ("PENDING", 0)
        };
        let mut v = json!({
            "kind": "compute#operation",
            "id": self.id.to_string(),
            "name": self.name,
            "zone": call.zone_url(&self.zone),
            "operationType": match self.kind {
                OpKind::Insert | OpKind::InstanceInsert => "insert",
                OpKind::Delete | OpKind::InstanceDelete => "delete",
            },
            "targetLink": format!(
                "{}/{}/{}",
                call.zone_url(&self.zone),
                match self.kind {
                    OpKind::Insert | OpKind::Delete => "reservations",
                    OpKind::InstanceInsert | OpKind::InstanceDelete => "instances",
                },
                self.target
            ),
            "targetId": self.target_id.to_string(),
            "status": status,
            "user": self.user,
            "progress": progress,
            "insertTime": gce_time(self.inserted),
            "selfLink": format!("{}/operations/{}", call.zone_url(&self.zone), self.name),
        });
        if status != "PENDING" {
            v["startTime"] = json!(gce_time(half.min(now)));
        }
        if status == "DONE" {
            v["endTime"] = json!(gce_time(self.done_at));
            if let Some(e) = &self.error {
                v["error"] = json!({"errors": [{
                    "code": e.code,
                    "message": e.message,
                    "errorDetails": e.details,
                }]});
                v["httpErrorStatusCode"] = json!(e.http_status);
                v["httpErrorMessage"] = json!(e.http_message);
            }
        }
        if let Some(r) = &self.request_id {
            v["clientOperationId"] = json!(r);
        }
        v
    }
}

/// Finishes every operation that is due, then deletes reservations past their delete time.
pub(super) fn sweep(inner: &mut Inner, world: &World) {
    let now = world.now();
    if inner.next_due.is_none_or(|due| due > now) {
        return;
    }
    for op in inner
        .operations
        .iter_mut()
        .filter(|o| !o.applied && o.done_at <= now)
    {
        op.applied = true;
        if matches!(op.kind, OpKind::InstanceInsert | OpKind::InstanceDelete) {
            continue;
        }
        let key = (op.zone.clone(), op.target.clone());
        let Some(res) = inner
            .reservations
            .get_mut(&key)
            .filter(|r| r.id == op.target_id)
        else {
            continue;
        };
        match (op.kind, &op.error) {
            (OpKind::Insert, None) => {
                res.status = Status::Ready;
                if res.holds_capacity {
                    world.set_state(CLOUD, &res.id.to_string(), AuditState::Active);
                }
            }
            (OpKind::InstanceInsert | OpKind::InstanceDelete, _) => {}
            (OpKind::Insert, Some(_)) | (OpKind::Delete, _) => {
                if let Some(res) = inner.reservations.remove(&key) {
                    res.release(world, AuditState::Cancelled);
                }
            }
        }
    }
    let expired: Vec<(String, String)> = inner
        .reservations
        .iter()
        .filter(|(_, r)| r.status == Status::Ready && r.delete_at.is_some_and(|t| t <= now))
        .map(|(k, _)| k.clone())
        .collect();
    for key in expired {
        if let Some(res) = inner.reservations.remove(&key) {
            res.release(world, AuditState::Expired);
        }
    }
    let ops = inner
        .operations
        .iter()
        .filter(|o| !o.applied)
        .map(|o| o.done_at);
    let expiries = inner.reservations.values().filter_map(|r| r.delete_at);
    inner.next_due = ops.chain(expiries).min();
}

/// Lowers the next sweep time to `at`.
pub(super) fn due_at(inner: &mut Inner, at: Timestamp) {
    inner.next_due = Some(inner.next_due.map_or(at, |d| d.min(at)));
}

fn find(app: &AppState, call: &Call, zone: &str, name: &str) -> Result<Value, GceError> {
    let inner = app.gce.lock();
    inner
        .op_index
        .get(name)
        .map(|&i| &inner.operations[i])
        .filter(|o| o.zone == zone)
        .map(|o| o.render(call, app.world.now()))
        .ok_or_else(|| {
            GceError::not_found(&format!(
                "projects/{}/zones/{zone}/operations/{name}",
                call.project
            ))
        })
}

/// `GET .../zones/{zone}/operations/{operation}`.
pub(super) async fn get(
    State(app): State<AppState>,
    Path((project, zone, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    base: BaseUrl,
) -> Response {
    let call = match begin(&app, &headers, &base, "zoneOperations.get", &project, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match find(&app, &call, &zone, &name) {
        Ok(v) => call.ok(v),
        Err(e) => call.fail(&e),
    }
}

/// `POST .../zones/{zone}/operations/{operation}/wait`: returns when the operation is DONE
/// or after `wait_timeout_ms` (callers loop, as with the real API).
pub(super) async fn wait(
    State(app): State<AppState>,
    Path((project, zone, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    base: BaseUrl,
) -> Response {
    let call = match begin(
        &app,
        &headers,
        &base,
        "zoneOperations.wait",
        &project,
        false,
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    let started = Instant::now();
    let timeout = Duration::from_millis(call.opts.wait_timeout_ms);
    loop {
        app.gce.sweep(&app.world);
        match find(&app, &call, &zone, &name) {
            Err(e) => return call.fail(&e),
            Ok(v) if v["status"] == "DONE" || started.elapsed() >= timeout => return call.ok(v),
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// `GET .../zones/{zone}/operations`.
pub(super) async fn list(
    State(app): State<AppState>,
    Path((project, zone)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    base: BaseUrl,
) -> Response {
    let call = match begin(
        &app,
        &headers,
        &base,
        "zoneOperations.list",
        &project,
        false,
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    if app.world.region_of_zone(CLOUD, &zone).is_none() {
        return call.fail(&GceError::not_found(&format!(
            "projects/{project}/zones/{zone}"
        )));
    }
    let now = app.world.now();
    let items: Vec<Value> = app
        .gce
        .lock()
        .operations
        .iter()
        .filter(|o| o.zone == zone)
        .map(|o| o.render(&call, now))
        .collect();
    match list_page(&query, "ops", items) {
        Ok((items, next)) => call.ok(list_body(
            "compute#operationList",
            format!("projects/{project}/zones/{zone}/operations"),
            format!("{}/operations", call.zone_url(&zone)),
            items,
            next,
        )),
        Err(e) => call.fail(&e),
    }
}
