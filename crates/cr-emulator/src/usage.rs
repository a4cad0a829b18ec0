//! Instances launched through the emulated launch endpoints (EC2 `RunInstances`, GCE
//! `instances.insert`, Azure VM PUT, OCI `LaunchInstance`) and how many instances each
//! reservation holds.
//!
//! A cloud module decides which reservation (if any) a launch consumes with its own matching
//! rules, then records the instance here. An instance inside a reservation uses the capacity
//! the reservation already took from the zone; an on-demand instance takes its own from the
//! zone's pool ([`World::try_consume`]) and gives it back on termination. When a reservation
//! ends while instances are in it (EC2 cancel, expiry, a GCE open reservation deleted), those
//! instances keep running on demand: [`World::detach_reservation`] moves them out and the
//! reservation returns only its unused part to the pool.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::world::{CloudKind, World};

/// One running instance as the audit reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// Which cloud.
    pub cloud: CloudKind,
    /// The cloud's id (EC2 `i-…`, GCE numeric id, ARM resource id, OCI OCID).
    pub id: String,
    /// The name (EC2: the id).
    pub name: String,
    /// Region.
    pub region: String,
    /// Zone / availability domain (Azure: empty for a regional VM).
    pub zone: String,
    /// Instance type / machine type / VM size / shape.
    pub instance_type: String,
    /// The reservation it runs in (its audit id), or `None` for on-demand capacity.
    pub reservation: Option<String>,
    /// When it was launched (world clock).
    pub launched_at: Timestamp,
}

#[derive(Debug, Default)]
pub(crate) struct Usage {
    instances: BTreeMap<(CloudKind, String), Instance>,
    used: HashMap<(CloudKind, String), u32>,
}

impl Usage {
    pub(crate) fn used(&self, cloud: CloudKind, reservation: &str) -> u32 {
        self.used
            .get(&(cloud, reservation.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn instances(&self) -> Vec<Instance> {
        let mut all: Vec<Instance> = self.instances.values().cloned().collect();
        all.sort_by_key(|i| i.launched_at);
        all
    }
}

impl World {
    /// Instances currently running inside a reservation (by its audit id).
    pub fn reservation_used(&self, cloud: CloudKind, reservation: &str) -> u32 {
        self.usage().used(cloud, reservation)
    }

    /// The ids of the instances running inside a reservation.
    pub fn instances_in(&self, cloud: CloudKind, reservation: &str) -> Vec<String> {
        self.usage()
            .instances
            .values()
            .filter(|i| i.cloud == cloud && i.reservation.as_deref() == Some(reservation))
            .map(|i| i.id.clone())
            .collect()
    }

    /// One running instance.
    pub fn instance(&self, cloud: CloudKind, id: &str) -> Option<Instance> {
        self.usage().instances.get(&(cloud, id.to_owned())).cloned()
    }

    /// Every running instance of a cloud, oldest first.
    pub fn instances(&self, cloud: CloudKind) -> Vec<Instance> {
        let mut all: Vec<Instance> = self
            .usage()
            .instances
            .values()
            .filter(|i| i.cloud == cloud)
            .cloned()
            .collect();
        all.sort_by_key(|i| i.launched_at);
        all
    }

    /// Records a launched instance. The caller has matched it to `instance.reservation` (and
    /// checked that reservation has a free slot) or taken on-demand capacity for it.
    pub fn record_launch(&self, instance: Instance) {
        let mut usage = self.usage();
        if let Some(r) = &instance.reservation {
            *usage.used.entry((instance.cloud, r.clone())).or_default() += 1;
        }
        usage
            .instances
            .insert((instance.cloud, instance.id.clone()), instance);
    }

    /// Removes a terminated instance: its reservation slot frees, or its on-demand capacity
    /// goes back to the zone's pool.
    pub fn record_termination(&self, cloud: CloudKind, id: &str) -> Option<Instance> {
        let instance = {
            let mut usage = self.usage();
            let instance = usage.instances.remove(&(cloud, id.to_owned()))?;
            if let Some(r) = &instance.reservation
                && let Some(n) = usage.used.get_mut(&(cloud, r.clone()))
            {
                *n = n.saturating_sub(1);
            }
            instance
        };
        if instance.reservation.is_none() {
            self.release(
                cloud,
                &instance.region,
                &instance.zone,
                &instance.instance_type,
                1,
            );
        }
        Some(instance)
    }

    /// A reservation ended with instances in it: they keep running on demand, holding the
    /// capacity they use. Returns how many there were; the reservation gives back only the
    /// rest of its count.
    pub fn detach_reservation(&self, cloud: CloudKind, reservation: &str) -> u32 {
        let mut usage = self.usage();
        let mut moved = 0;
        for i in usage.instances.values_mut() {
            if i.cloud == cloud && i.reservation.as_deref() == Some(reservation) {
                i.reservation = None;
                moved += 1;
            }
        }
        usage.used.remove(&(cloud, reservation.to_owned()));
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn instance(id: &str, reservation: Option<&str>) -> Instance {
        Instance {
            cloud: CloudKind::Aws,
            id: id.to_owned(),
            name: id.to_owned(),
            region: "us-east-1".to_owned(),
            zone: "us-east-1a".to_owned(),
            instance_type: "m5.large".to_owned(),
            reservation: reservation.map(str::to_owned),
            launched_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn launches_and_terminations_move_the_used_count_and_the_pool() {
        let world = World::new(Scenario::default());
        let before = world.available(CloudKind::Aws, "us-east-1", "us-east-1a", "m5.large");
        world.record_launch(instance("i-1", Some("cr-1")));
        world.record_launch(instance("i-2", Some("cr-1")));
        assert_eq!(world.reservation_used(CloudKind::Aws, "cr-1"), 2);
        assert_eq!(world.instances_in(CloudKind::Aws, "cr-1").len(), 2);
        // An on-demand instance holds pool capacity, given back on termination.
        world
            .try_consume(CloudKind::Aws, "us-east-1", "us-east-1a", "m5.large", 1)
            .expect("stock");
        world.record_launch(instance("i-3", None));
        world.record_termination(CloudKind::Aws, "i-3");
        assert_eq!(
            world.available(CloudKind::Aws, "us-east-1", "us-east-1a", "m5.large"),
            before
        );
        world.record_termination(CloudKind::Aws, "i-1");
        assert_eq!(world.reservation_used(CloudKind::Aws, "cr-1"), 1);
        // The reservation ends: its instance runs on demand, and its later termination
        // returns pool capacity instead of a reservation slot.
        assert_eq!(world.detach_reservation(CloudKind::Aws, "cr-1"), 1);
        assert_eq!(world.reservation_used(CloudKind::Aws, "cr-1"), 0);
        assert_eq!(
            world.instance(CloudKind::Aws, "i-2").unwrap().reservation,
            None
        );
        assert_eq!(world.state().instances.len(), 1);
        assert!(world.record_termination(CloudKind::Aws, "i-2").is_some());
        assert!(world.record_termination(CloudKind::Aws, "i-2").is_none());
        assert!(world.state().instances.is_empty());
    }
}
