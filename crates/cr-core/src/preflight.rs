//! The preflight: whether reserving can work, checked before anything is created (`cr doctor`,
//! `cr reserve --preflight`). Four areas, each as far as the cloud allows without side
//! effects:
//!
//! 1. **Credentials** — which source was found, and that it authenticates (a cheap read).
//! 2. **Permissions** — each action cr will call (EC2 `DryRun`, GCE `testIamPermissions`,
//!    Azure `Microsoft.Authorization/permissions`, OCI a read of the compartment), each missing
//!    one named with the policy line that grants it.
//! 3. **Offerings** — every demanded type is offered in the candidate zones (the zones that
//!    lack it are named).
//! 4. **Quota** — headroom for the plan in each region where the cloud exposes it, as vCPUs
//!    per family where the cloud counts that way.
//!
//! The adapter answers each area through its preflight hooks
//! ([`crate::adapter::CloudAdapter::check_credentials`], `check_permissions`,
//! `zones_offering`, `quota_headroom`); [`crate::engine::Engine::preflight`] asks them for
//! every region of the plan, concurrently, and turns the answers into [`Finding`]s. A hook
//! that cannot check answers [`Checkable::NotCheckable`] with the reason, which the report
//! shows plainly; it never passes silently.

use futures::future::join_all;
use serde::Serialize;

use crate::cloud::Cloud;
use crate::error::{Error, ErrorKind};
use crate::plan::{CapacityPlan, RegionPlan};

/// The area a finding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    /// Which credential source was found and whether it authenticates.
    Credentials,
    /// Whether each action cr calls is allowed.
    Permissions,
    /// Whether each demanded type is offered in the candidate zones.
    Offerings,
    /// Whether the region's quota has room for the plan.
    Quota,
}

impl Area {
    /// The area's name as the checklist prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Credentials => "credentials",
            Area::Permissions => "permissions",
            Area::Offerings => "offerings",
            Area::Quota => "quota",
        }
    }
}

/// The outcome of one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Checked, and fine.
    Pass,
    /// Checked, and reserving would fail because of it.
    Fail,
    /// The cloud does not let cr check this without side effects or an extra permission
    /// (the detail says which): neither a pass nor a failure.
    NotCheckable,
}

/// One line of the preflight checklist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The area.
    pub area: Area,
    /// The outcome.
    pub status: Status,
    /// The region, for regional findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// What was checked: the credential source, an action, an instance type, a quota metric.
    pub subject: String,
    /// What was found, in words.
    pub detail: String,
    /// What the user can do, for a failure or a check that could not be made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The cloud's own error code, when a call failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// The whole preflight of one plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreflightReport {
    /// The backend.
    pub cloud: Cloud,
    /// Every finding, by area then region.
    pub findings: Vec<Finding>,
}

impl PreflightReport {
    /// Whether reserving can work: no finding failed. A check the cloud does not allow is not
    /// a failure.
    pub fn can_reserve(&self) -> bool {
        !self.findings.iter().any(|f| f.status == Status::Fail)
    }

    /// The failed findings.
    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status == Status::Fail)
    }
}

/// What a preflight hook found, or why the cloud does not let it look.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Checkable<T> {
    /// The hook could check.
    Checked(T),
    /// The hook could not check without side effects or an extra permission; the reason says
    /// what would allow it.
    NotCheckable {
        /// Why, and what would allow the check.
        reason: String,
    },
}

impl<T> Checkable<T> {
    /// A [`Checkable::NotCheckable`] with `reason`.
    pub fn not_checkable(reason: impl Into<String>) -> Self {
        Checkable::NotCheckable {
            reason: reason.into(),
        }
    }
}

/// The credential source that authenticated, as [`crate::adapter::CloudAdapter::check_credentials`]
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialReport {
    /// Which source was used, in words ("environment variables AWS_ACCESS_KEY_ID …",
    /// "service account key file /path", "Azure CLI"); never a secret.
    pub source: String,
    /// Who the cloud says the caller is (an ARN, a service account e-mail, an object id, a
    /// user OCID), when the cheap read tells.
    pub identity: Option<String>,
}

/// One action cr calls and whether the caller may call it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PermissionCheck {
    /// The cloud's name of the action (`ec2:CreateCapacityReservation`,
    /// `compute.reservations.create`, `Microsoft.Compute/capacityReservationGroups/write`,
    /// an OCI policy verb and resource).
    pub action: String,
    /// Whether the cloud says it is allowed.
    pub granted: bool,
    /// The policy line that grants it (from the adapter's `permissions()` manifest).
    pub grant: String,
    /// Set when the cloud cannot tell without side effects whether this action is allowed
    /// (OCI has no permission-test API: a create or delete is only known by doing it): why,
    /// and `granted` means nothing. The finding is then [`Status::NotCheckable`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unchecked: Option<String>,
}

impl PermissionCheck {
    /// An action the cloud said is allowed (`granted`) or not.
    pub fn checked(action: impl Into<String>, granted: bool, grant: impl Into<String>) -> Self {
        PermissionCheck {
            action: action.into(),
            granted,
            grant: grant.into(),
            unchecked: None,
        }
    }

    /// An action the cloud does not let cr check without side effects, with the reason.
    pub fn unchecked(
        action: impl Into<String>,
        grant: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        PermissionCheck {
            action: action.into(),
            granted: false,
            grant: grant.into(),
            unchecked: Some(reason.into()),
        }
    }
}

/// One quota the plan draws on in a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaLine {
    /// The cloud's name of the quota (`CPUS`, `N2_CPUS`, `standardDSv5Family`,
    /// `standard-e4-core-count`, `Running On-Demand Standard instances`).
    pub metric: String,
    /// What it counts, for the checklist ("vCPUs of family standardDSv5Family").
    pub unit: String,
    /// The limit.
    pub limit: u64,
    /// Already used.
    pub used: u64,
    /// What the plan needs of it in this region.
    pub needed: u64,
}

impl QuotaLine {
    /// Whether the plan fits: `used + needed <= limit`.
    pub fn fits(&self) -> bool {
        self.used.saturating_add(self.needed) <= self.limit
    }
}

/// A finding for a hook's error: the area failed with the cloud's code and the error's hint.
pub(crate) fn error_finding(area: Area, region: Option<&str>, subject: &str, e: &Error) -> Finding {
    let cloud = e.cloud_error();
    let status = match e.kind() {
        // A hook the adapter does not implement is not a failure of the account.
        ErrorKind::Unsupported => Status::NotCheckable,
        _ => Status::Fail,
    };
    Finding {
        area,
        status,
        region: region.map(str::to_string),
        subject: subject.to_string(),
        // The error's text already says what to do (every cr error carries its hint).
        detail: e.to_string(),
        fix: None,
        code: cloud.map(|c| c.code.clone()).filter(|c| !c.is_empty()),
    }
}

impl crate::engine::Engine {
    /// The preflight of `plan`: credentials once, then for every region of the plan at once
    /// the permissions, each demanded type's offering in the candidate zones and the quota
    /// headroom. Read-only: nothing is created. A hook's error becomes a failed finding with
    /// the cloud's code (an unimplemented hook a not-checkable one); the call itself fails
    /// only for what makes every finding meaningless (none today).
    pub async fn preflight(&self, plan: &CapacityPlan) -> PreflightReport {
        let adapter = self.adapter();
        let retry = self.retry_policy();
        let cloud = adapter.cloud();
        let mut findings = Vec::new();

        match retry
            .run("check_credentials", || adapter.check_credentials())
            .await
        {
            Ok(Checkable::Checked(c)) => findings.push(Finding {
                area: Area::Credentials,
                status: Status::Pass,
                region: None,
                subject: c.source.clone(),
                detail: match &c.identity {
                    Some(who) => format!("authenticates as {who}"),
                    None => "authenticates".into(),
                },
                fix: None,
                code: None,
            }),
            Ok(Checkable::NotCheckable { reason }) => findings.push(Finding {
                area: Area::Credentials,
                status: Status::NotCheckable,
                region: None,
                subject: format!("{cloud} credentials"),
                detail: reason,
                fix: None,
                code: None,
            }),
            Err(e) => {
                // Nothing else can be checked without credentials: say so once, not per call.
                findings.push(error_finding(
                    Area::Credentials,
                    None,
                    &format!("{cloud} credentials"),
                    &e,
                ));
                if e.kind() == ErrorKind::Unauthorized {
                    return PreflightReport { cloud, findings };
                }
            }
        }

        let regions = join_all(plan.regions.iter().map(|rp| self.preflight_region(rp))).await;
        for mut region in regions {
            findings.append(&mut region);
        }
        findings.sort_by(|a, b| (a.area, &a.region).cmp(&(b.area, &b.region)));
        PreflightReport { cloud, findings }
    }

    async fn preflight_region(&self, rp: &RegionPlan) -> Vec<Finding> {
        let adapter = self.adapter();
        let retry = self.retry_policy();
        let region = rp.region.as_str();
        let (permissions, offerings, quota) = tokio::join!(
            retry.run("check_permissions", || adapter.check_permissions(region)),
            self.preflight_offerings(rp),
            retry.run("quota_headroom", || adapter
                .quota_headroom(region, &rp.demands)),
        );
        let mut findings = Vec::new();
        let subject = format!("{} actions", adapter.cloud());
        match permissions {
            Ok(Checkable::Checked(checks)) => {
                for c in checks {
                    if let Some(reason) = c.unchecked {
                        findings.push(Finding {
                            area: Area::Permissions,
                            status: Status::NotCheckable,
                            region: Some(rp.region.clone()),
                            subject: c.action,
                            detail: reason,
                            fix: Some(format!("make sure the policy has {}", c.grant)),
                            code: None,
                        });
                        continue;
                    }
                    findings.push(Finding {
                        area: Area::Permissions,
                        status: if c.granted {
                            Status::Pass
                        } else {
                            Status::Fail
                        },
                        region: Some(rp.region.clone()),
                        detail: if c.granted {
                            "allowed".into()
                        } else {
                            format!("not allowed: grant it with {}", c.grant)
                        },
                        fix: (!c.granted).then(|| c.grant.clone()),
                        subject: c.action,
                        code: None,
                    });
                }
            }
            Ok(Checkable::NotCheckable { reason }) => findings.push(Finding {
                area: Area::Permissions,
                status: Status::NotCheckable,
                region: Some(rp.region.clone()),
                subject,
                detail: reason,
                fix: None,
                code: None,
            }),
            Err(e) => findings.push(error_finding(Area::Permissions, Some(region), &subject, &e)),
        }
        findings.extend(offerings);
        match quota {
            Ok(Checkable::Checked(lines)) => {
                for q in lines {
                    let fits = q.fits();
                    findings.push(Finding {
                        area: Area::Quota,
                        status: if fits { Status::Pass } else { Status::Fail },
                        region: Some(rp.region.clone()),
                        detail: format!(
                            "{}: limit {}, used {}, the plan needs {}{}",
                            q.unit,
                            q.limit,
                            q.used,
                            q.needed,
                            if fits {
                                String::new()
                            } else {
                                format!(" ({} short)", q.used.saturating_add(q.needed) - q.limit)
                            }
                        ),
                        fix: (!fits).then(|| {
                            format!(
                                "ask the cloud for a higher {} limit in {}, release what uses \
                                 it, or plan fewer or smaller instances",
                                q.metric, rp.region
                            )
                        }),
                        subject: q.metric,
                        code: None,
                    });
                }
            }
            Ok(Checkable::NotCheckable { reason }) => findings.push(Finding {
                area: Area::Quota,
                status: Status::NotCheckable,
                region: Some(rp.region.clone()),
                subject: "quota".into(),
                detail: reason,
                fix: None,
                code: None,
            }),
            Err(e) => findings.push(error_finding(Area::Quota, Some(region), "quota", &e)),
        }
        findings
    }

    /// One finding per demanded type: offered in which candidate zones, and which lack it.
    async fn preflight_offerings(&self, rp: &RegionPlan) -> Vec<Finding> {
        let adapter = self.adapter();
        let retry = self.retry_policy();
        let region = rp.region.as_str();
        let configured = match retry
            .run("resolve_zones", || adapter.resolve_zones(region, &rp.zones))
            .await
        {
            Ok(z) => z,
            Err(e) => {
                return vec![error_finding(
                    Area::Offerings,
                    Some(region),
                    "configured zones",
                    &e,
                )];
            }
        };
        let answers = join_all(rp.demands.iter().map(|d| async move {
            let t = d.instance_type.as_str();
            (
                d,
                retry
                    .run("zones_offering", || adapter.zones_offering(region, t))
                    .await,
            )
        }))
        .await;
        let mut findings = Vec::new();
        for (demand, answer) in answers {
            let t = &demand.instance_type;
            let offered = match answer {
                Ok(o) => o,
                Err(e) => {
                    findings.push(error_finding(Area::Offerings, Some(region), t, &e));
                    continue;
                }
            };
            let lacking: Vec<&String> =
                configured.iter().filter(|z| !offered.contains(z)).collect();
            let usable: Vec<&String> = if rp.zone_fallback {
                offered.iter().collect()
            } else {
                configured.iter().filter(|z| offered.contains(z)).collect()
            };
            let status = if usable.is_empty() {
                Status::Fail
            } else {
                Status::Pass
            };
            let mut detail = if usable.is_empty() {
                if rp.zone_fallback || configured.is_empty() {
                    format!("not offered in any zone of {region}")
                } else {
                    "not offered in any configured zone".to_string()
                }
            } else {
                format!("offered in {}", join(&usable))
            };
            if !lacking.is_empty() && !usable.is_empty() {
                detail.push_str(&format!("; not in {}", join(&lacking)));
            } else if !lacking.is_empty() {
                detail.push_str(&format!(" (not in {})", join(&lacking)));
            }
            findings.push(Finding {
                area: Area::Offerings,
                status,
                region: Some(rp.region.clone()),
                subject: t.clone(),
                detail,
                fix: (status == Status::Fail).then(|| {
                    format!(
                        "choose another instance type or region, or configure zones that offer {t}"
                    )
                }),
                code: None,
            });
        }
        findings
    }
}

fn join(zones: &[&String]) -> String {
    zones
        .iter()
        .map(|z| z.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
