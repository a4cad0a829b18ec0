//! ARM long-running operations, written once: the three patterns of the ARM guidelines
//! (`Azure-AsyncOperation` status, `Location` polling, the resource's own
//! `provisioningState`), one look at a time. Creates hand the look to the engine's polling
//! loop ([`cr_core::adapter::CloudAdapter::poll`]); deletes wait here with
//! [`cr_core::wait::poll_until`], the same loop. `Retry-After` (and `retry-after-ms`) is
//! honoured in both.

use std::collections::BTreeMap;
use std::time::Duration;

use cr_core::error::{CloudError, ErrorKind};
use cr_core::wait::{Poll, WaitPolicy, Waited, poll_until};
use cr_core::{Error, Result};
use tokio::time::Instant;

use crate::client::{Answer, ArmClient};
use crate::error::{ArmErrorBody, CallSite, classify_arm};
use crate::wire::OperationStatus;

/// `Reservation.extra` key: which polling pattern a pending reservation follows.
pub const EXTRA_LRO_KIND: &str = "azure_lro";
/// `Reservation.extra` key: the URL it polls.
pub const EXTRA_LRO_URL: &str = "azure_lro_url";

/// How to follow one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lro {
    /// Poll the `Azure-AsyncOperation` URL: a status body.
    AsyncOperation(String),
    /// Poll the `Location` URL: 202 while running, then the final answer.
    Location(String),
    /// Poll the resource itself (no polling header): its `provisioningState`, or for a
    /// delete until it is gone.
    Resource(String),
}

/// What one look found.
#[derive(Debug)]
pub(crate) enum Step {
    /// Still running; look again after this if the server said.
    Running(Option<Duration>),
    /// Finished successfully (the final body, when the pattern has one).
    Done,
    /// Finished with this failure (settled: nothing was made).
    Failed(CloudError),
}

impl Lro {
    /// The operation an accepted request started: `Azure-AsyncOperation` first, then
    /// `Location`, else the resource at `resource_url`.
    pub(crate) fn of(answer: &Answer, resource_url: &str) -> Lro {
        if let Some(url) = &answer.async_operation {
            Lro::AsyncOperation(url.clone())
        } else if let Some(url) = &answer.location {
            Lro::Location(url.clone())
        } else {
            Lro::Resource(resource_url.to_string())
        }
    }

    /// Stores the operation in a reservation's `extra`.
    pub(crate) fn save(&self, extra: &mut BTreeMap<String, String>) {
        let (kind, url) = match self {
            Lro::AsyncOperation(u) => ("azure-asyncoperation", u),
            Lro::Location(u) => ("location", u),
            Lro::Resource(u) => ("provisioning-state", u),
        };
        extra.insert(EXTRA_LRO_KIND.to_string(), kind.to_string());
        extra.insert(EXTRA_LRO_URL.to_string(), url.clone());
    }

    /// The operation stored by [`Lro::save`].
    pub(crate) fn load(extra: &BTreeMap<String, String>) -> Option<Lro> {
        let url = extra.get(EXTRA_LRO_URL)?.clone();
        match extra.get(EXTRA_LRO_KIND)?.as_str() {
            "azure-asyncoperation" => Some(Lro::AsyncOperation(url)),
            "location" => Some(Lro::Location(url)),
            "provisioning-state" => Some(Lro::Resource(url)),
            _ => None,
        }
    }
}

/// The terminal meaning of a `provisioningState`: `Some(true)` succeeded, `Some(false)`
/// failed or cancelled, `None` still running.
pub(crate) fn provisioning_outcome(state: Option<&str>) -> Option<bool> {
    match state.map(str::to_ascii_lowercase).as_deref() {
        None | Some("succeeded") => Some(true),
        Some("failed" | "canceled" | "cancelled") => Some(false),
        _ => None,
    }
}

/// The failure of a resource that ended `Failed` without an operation to say why. Only
/// allocation failures are known to fail a create after it was accepted, so it is treated
/// like one: the next zone is tried.
pub(crate) fn failed_without_reason(site: &CallSite, what: &str) -> CloudError {
    site.error(
        ErrorKind::CapacityUnavailable,
        "ProvisioningFailed",
        format!(
            "{what} ended in provisioningState Failed and the cloud gave no reason \
             (no operation status to read); treated as an allocation failure"
        ),
    )
    .settled()
}

/// Looks once at `lro`. `deleting`: the resource poll waits for the resource to be gone.
/// Errors are failures to look (retry them); an operation's failure is [`Step::Failed`].
pub(crate) async fn look(
    client: &ArmClient,
    site: &CallSite,
    lro: &Lro,
    deleting: bool,
) -> Result<Step> {
    match lro {
        Lro::AsyncOperation(url) => {
            let answer = client
                .send(site, azure_core::http::Method::Get, url, None)
                .await?;
            let status: OperationStatus = answer.json(site)?;
            Ok(match status.status.to_ascii_lowercase().as_str() {
                "succeeded" => Step::Done,
                "failed" | "canceled" | "cancelled" => {
                    let body = status.error.unwrap_or_else(|| ArmErrorBody {
                        code: "OperationFailed".into(),
                        message: format!("the operation ended {}", status.status),
                        details: Vec::new(),
                    });
                    Step::Failed(classify_arm(site, None, &body, None).settled())
                }
                _ => Step::Running(answer.retry_after),
            })
        }
        Lro::Location(url) => {
            // As azcore: 202 runs, any other success is done, and any other status is the
            // operation's final failure, except the failures to look (throttled,
            // unauthorized, the operation unknown).
            let answer = client
                .exchange(site, azure_core::http::Method::Get, url, None)
                .await?;
            match answer.status {
                202 => Ok(Step::Running(answer.retry_after)),
                s if s < 400 => Ok(Step::Done),
                401 | 403 | 404 | 429 => Err(answer.error(site).into()),
                _ => Ok(Step::Failed(answer.error(site).settled())),
            }
        }
        Lro::Resource(url) => {
            match client
                .send(site, azure_core::http::Method::Get, url, None)
                .await
            {
                Ok(answer) => {
                    let v: serde_json::Value = answer.json(site)?;
                    let state = v
                        .pointer("/properties/provisioningState")
                        .and_then(serde_json::Value::as_str);
                    if deleting {
                        return Ok(Step::Running(answer.retry_after));
                    }
                    Ok(match provisioning_outcome(state) {
                        Some(true) => Step::Done,
                        Some(false) => Step::Failed(failed_without_reason(site, "the resource")),
                        None => Step::Running(answer.retry_after),
                    })
                }
                Err(e) if deleting && e.kind() == ErrorKind::NotFound => Ok(Step::Done),
                Err(e) => Err(e),
            }
        }
    }
}

/// Waits for `lro` to finish within the client's operation timeout, looking with [`look`]
/// in cr-core's polling loop. Failures to look that are retryable are looked past.
pub(crate) async fn wait(
    client: &ArmClient,
    site: &CallSite,
    lro: &Lro,
    deleting: bool,
) -> Result<()> {
    let timeouts = client.timeouts;
    let policy = WaitPolicy {
        first_interval: Duration::from_millis(100).min(timeouts.max_poll_interval),
        max_interval: timeouts.max_poll_interval,
        settle_timeout: timeouts.operation,
    };
    let deadline = Instant::now() + timeouts.operation;
    let waited = poll_until(&policy, Some(deadline), None, || async {
        match look(client, site, lro, deleting).await {
            Ok(Step::Running(retry_after)) => Ok(Poll::Pending { retry_after }),
            Ok(Step::Done) => Ok(Poll::Ready(Ok(()))),
            Ok(Step::Failed(e)) => Ok(Poll::Ready(Err(Error::from(e)))),
            Err(e) if e.is_retryable() => Ok(Poll::Pending {
                retry_after: e.retry_after(),
            }),
            Err(e) => Err(e),
        }
    })
    .await?;
    match waited {
        Waited::Ready(outcome) => outcome,
        Waited::TimedOut | Waited::Stopped => Err(site
            .error(
                ErrorKind::Timeout,
                "OperationTimeout",
                format!(
                    "the long-running operation did not finish within {} s",
                    timeouts.operation.as_secs()
                ),
            )
            .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(async_op: Option<&str>, location: Option<&str>) -> Answer {
        Answer {
            status: 201,
            body: Vec::new(),
            request_id: None,
            retry_after: None,
            async_operation: async_op.map(str::to_string),
            location: location.map(str::to_string),
        }
    }

    #[test]
    fn the_pattern_follows_the_headers_and_round_trips() {
        let a = Lro::of(
            &answer(Some("https://h/op"), Some("https://h/loc")),
            "https://h/r",
        );
        assert_eq!(a, Lro::AsyncOperation("https://h/op".into()));
        let l = Lro::of(&answer(None, Some("https://h/loc")), "https://h/r");
        assert_eq!(l, Lro::Location("https://h/loc".into()));
        let r = Lro::of(&answer(None, None), "https://h/r");
        assert_eq!(r, Lro::Resource("https://h/r".into()));
        for lro in [a, l, r] {
            let mut extra = BTreeMap::new();
            lro.save(&mut extra);
            assert_eq!(Lro::load(&extra), Some(lro));
        }
        assert_eq!(Lro::load(&BTreeMap::new()), None);
    }

    #[test]
    fn provisioning_states() {
        assert_eq!(provisioning_outcome(Some("Succeeded")), Some(true));
        assert_eq!(provisioning_outcome(None), Some(true));
        assert_eq!(provisioning_outcome(Some("Failed")), Some(false));
        assert_eq!(provisioning_outcome(Some("Canceled")), Some(false));
        assert_eq!(provisioning_outcome(Some("Creating")), None);
        assert_eq!(provisioning_outcome(Some("Updating")), None);
    }
}
