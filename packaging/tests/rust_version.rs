//! The workspace's `rust-version` states the truth: every workspace package
//! declares it (inherited from `[workspace.package]`), and no package in the
//! dependency graph (normal, build and dev dependencies, for the x86_64 Linux
//! target the packages are built for) needs a newer Rust than it claims.
//! Our own code's use of std APIs newer than it is caught by clippy's
//! `incompatible_msrv` lint, which reads the same field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use sdw_packaging::cargo_metadata;

/// "1.88" or "1.85.0" -> (1, 88, 0).
fn parse(version: &str) -> (u64, u64, u64) {
    let mut parts = version.split('.').map(|p| {
        p.parse::<u64>()
            .unwrap_or_else(|e| panic!("rust-version {version:?}: {e}"))
    });
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    let patch = parts.next().unwrap_or(0);
    (major, minor, patch)
}

#[test]
fn parses_rust_versions() {
    assert_eq!(parse("1.88"), (1, 88, 0));
    assert_eq!(parse("1.85.1"), (1, 85, 1));
    assert!(parse("1.89") > parse("1.88.9"));
}

#[test]
fn rust_version_is_declared_and_no_dependency_needs_a_newer_rust() {
    let metadata = cargo_metadata(&["--filter-platform", "x86_64-unknown-linux-gnu"]).unwrap();
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    let in_graph: BTreeSet<&str> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["id"].as_str().unwrap())
        .collect();
    let packages = metadata["packages"].as_array().unwrap();

    let mut declared = BTreeSet::new();
    for package in packages
        .iter()
        .filter(|p| members.contains(p["id"].as_str().unwrap()))
    {
        let name = package["name"].as_str().unwrap();
        let version = package["rust_version"].as_str().unwrap_or_else(|| {
            panic!("{name} has no rust-version: add `rust-version.workspace = true`")
        });
        declared.insert(version.to_owned());
    }
    assert_eq!(
        declared.len(),
        1,
        "workspace packages disagree on rust-version: {declared:?}"
    );
    let workspace = declared.into_iter().next().unwrap();

    let mut needs: Vec<((u64, u64, u64), String)> = packages
        .iter()
        .filter(|p| {
            let id = p["id"].as_str().unwrap();
            in_graph.contains(id) && !members.contains(id)
        })
        .filter_map(|p| {
            let version = p["rust_version"].as_str()?;
            Some((
                parse(version),
                format!(
                    "{} {} (rust-version {version})",
                    p["name"].as_str()?,
                    p["version"].as_str()?
                ),
            ))
        })
        .collect();
    assert!(
        !needs.is_empty(),
        "no dependency states a rust-version: is the graph empty?"
    );
    needs.sort();
    let too_new: Vec<&String> = needs
        .iter()
        .filter(|(v, _)| *v > parse(&workspace))
        .map(|(_, name)| name)
        .collect();
    assert!(
        too_new.is_empty(),
        "the workspace claims rust-version {workspace}, but these need newer: {too_new:?}"
    );
    let (highest, by) = needs.last().unwrap();
    println!(
        "workspace rust-version {workspace}; the highest any dependency needs: {highest:?}, {by}"
    );
}
