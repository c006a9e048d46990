//! `sdw-admin validate` against a fixture per rule: exit status and the exact message.

mod common;

use common::{config_dir, fixture, sdw_admin, Sim};

fn validate(dir: &std::path::Path) -> common::Run {
    sdw_admin(&[
        "validate",
        dir.to_str().unwrap_or_default(),
        "--qubesd-socket",
        "/nonexistent/qubesd.sock",
    ])
}

fn refused_with(config_fixture: &str, message: &str) {
    let dir = config_dir(config_fixture);
    let run = validate(dir.path());
    assert_eq!(run.code, Some(1), "{config_fixture}: {}", run.stdout);
    assert_eq!(
        run.stderr.trim_end(),
        format!("sdw-admin: Error while validating configuration: {message}"),
        "{config_fixture}"
    );
}

#[test]
fn accepts_the_valid_configuration() {
    let dir = config_dir("testconfig");
    let run = validate(dir.path());
    assert!(run.ok(), "{}", run.stderr);
    assert!(run.stdout.ends_with("Validating...OK\n"));
}

#[test]
fn accepts_a_lowercase_fingerprint_of_the_key() {
    let dir = config_dir("lowercase_fpr");
    assert!(validate(dir.path()).ok());
}

#[test]
fn refuses_each_missing_key() {
    refused_with(
        "missing_submission_key_fpr",
        "'submission_key_fpr' is not defined in config.json",
    );
    refused_with("missing_hidserv", "'hidserv' is not defined in config.json");
    refused_with(
        "missing_hidserv_hostname",
        "hidden service hostname is not defined in config.json",
    );
    refused_with(
        "missing_hidserv_key",
        "hidden service key is not defined in config.json",
    );
    refused_with(
        "missing_environment",
        "'environment' is not defined in config.json",
    );
    refused_with(
        "missing_vmsizes",
        "Private volume sizes ('vmsizes') are not defined in config.json",
    );
    refused_with(
        "missing_vmsize_sd_app",
        "Private volume size of sd-app must be defined in config.json",
    );
    refused_with(
        "missing_vmsize_sd_log",
        "Private volume size of sd-log must be defined in config.json",
    );
}

#[test]
fn refuses_each_malformed_value() {
    refused_with(
        "not_an_object",
        "config.json must contain a JSON object at the top level",
    );
    refused_with("malformedfpr", "Invalid PGP key fingerprint specified");
    refused_with("hidserv_string", "'hidserv' must be a JSON object");
    refused_with(
        "malformedonion",
        "Invalid hidden service hostname specified",
    );
    refused_with(
        "malformed_onion_key",
        "Invalid hidden service key specified",
    );
    refused_with("invalid_environment", "Invalid environment: production");
    refused_with("vmsizes_list", "'vmsizes' must be a JSON object");
    refused_with(
        "vmsize_string",
        "Private volume size of sd-app must be an integer value.",
    );
    refused_with(
        "vmsize_bool",
        "Private volume size of sd-log must be an integer value.",
    );
    refused_with(
        "vmsize_zero",
        "Private volume size of sd-app must be at least 1 GiB",
    );
}

#[test]
fn refuses_a_well_formed_fingerprint_that_is_not_the_keys() {
    refused_with(
        "mismatched_fpr",
        "Configured fingerprint does not match key!",
    );
}

#[test]
fn refuses_a_folder_without_config() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let run = validate(dir.path());
    assert_eq!(run.code, Some(1));
    let path = dir.path().join("config.json");
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "sdw-admin: Error while validating configuration: Config file does not exist: {}. Create from config.json.example",
            path.display()
        )
    );
}

fn with_key(key_fixture: Option<&str>, message: impl FnOnce(&std::path::Path) -> String) {
    let dir = config_dir("testconfig");
    let key = dir.path().join("sd-journalist.sec");
    match key_fixture {
        Some(f) => {
            std::fs::copy(fixture(f), &key).unwrap_or_else(|e| panic!("{e}"));
        }
        None => std::fs::remove_file(&key).unwrap_or_else(|e| panic!("{e}")),
    }
    let run = validate(dir.path());
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "sdw-admin: Error while validating configuration: {}",
            message(&key)
        )
    );
}

#[test]
fn refuses_missing_unarmored_protected_and_invalid_keys() {
    with_key(None, |k| {
        format!("PGP secret key file not found: {}", k.display())
    });
    with_key(Some("test_key.sec.malformed"), |_| {
        "PGP secret key file provided is not an armored private key".into()
    });
    with_key(Some("protected_key.sec"), |_| {
        "PGP key is passphrase-protected.".into()
    });
    with_key(Some("garbage_key.sec"), |k| {
        format!("PGP secret key is not valid: {}", k.display())
    });
}

#[test]
fn refuses_a_configuration_smaller_than_the_live_private_volume() {
    let sim = Sim::start();
    let admin = sim.admin();
    let created = admin.create("AppVM", Some("fedora-43-xfce"), "sd-app", "yellow");
    assert!(created.is_ok());
    assert!(admin
        .resize("sd-app", "private", 20 * 1024 * 1024 * 1024)
        .is_ok());
    let dir = config_dir("testconfig");
    let run = sdw_admin(&[
        "validate",
        dir.path().to_str().unwrap_or_default(),
        "--qubesd-socket",
        sim.socket().to_str().unwrap_or_default(),
    ]);
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stderr.trim_end(),
        "sdw-admin: Error while validating configuration: sd-app private volume is already bigger than configuration."
    );
}
