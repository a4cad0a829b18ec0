//! The registered backends must equal the enabled cargo features, whatever the combination:
//! a backend crate the linker dropped would silently vanish from the registry.

#[test]
fn registered_names_equal_enabled_features() {
    let mut expected = Vec::new();
    if cfg!(feature = "aws") {
        expected.push("aws");
    }
    if cfg!(feature = "azure") {
        expected.push("azure");
    }
    if cfg!(feature = "gce") {
        expected.push("gce");
    }
    if cfg!(feature = "oci") {
        expected.push("oci");
    }
    assert_eq!(cr_facade::compiled_backends(), expected);
}

#[test]
fn every_compiled_backend_resolves_by_name_and_cloud_matches() {
    for name in cr_facade::compiled_backends() {
        let r = cr_facade::registration(name).expect("compiled backend resolves");
        assert_eq!(r.name, name);
        assert_eq!(r.cloud.as_str(), name);
    }
}

#[test]
fn missing_backend_names_the_feature() {
    for cloud in cr_facade::cr_core::Cloud::ALL {
        let name = cloud.as_str();
        if cr_facade::compiled_backends().contains(&name) {
            continue;
        }
        let err = cr_facade::registration(name).unwrap_err().to_string();
        assert!(err.contains("not compiled"), "{err}");
        assert!(err.contains(&format!("feature `{name}`")), "{err}");
    }
}

#[test]
fn unknown_backend_lists_compiled_ones() {
    let err = cr_facade::registration("docker").unwrap_err().to_string();
    assert!(err.contains("unknown backend `docker`"), "{err}");
    for name in cr_facade::compiled_backends() {
        assert!(err.contains(name), "{err}");
    }
}
