//! `sdw-admin configure`: the guided first run.
//!
//! Owns the questions, their order and defaults, and re-asking until an answer
//! passes the rule `sdw-admin validate` applies to it (the same
//! [`sdw_provision::config::answer`] checks, the same key import with real gpg,
//! the same live volume-size check). The onion service's client-auth key is read
//! without echo and never printed. Writing the folder is
//! [`sdw_provision::configure::write`].

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use dialoguer::{Input, Password, Select};
use thiserror::Error;
use zeroize::Zeroizing;

use sdw_protocol::layout::CLIENT_QUBE;
use sdw_provision::admin::Admin;
use sdw_provision::config::{answer, Dom0Config, HiddenService, VmSizes, GIB};
use sdw_provision::configure::{write, WriteError};
use sdw_provision::validate::{self, check_volume, secret_key_fingerprints};

#[derive(Debug, Error)]
pub enum ConfigureError {
    #[error("configure asks questions: run it on a terminal (or write config.json by hand, see config.json.example)")]
    NoTerminal,
    #[error("cannot ask: {0}")]
    Prompt(#[from] dialoguer::Error),
    #[error("{0}")]
    Write(#[from] WriteError),
    #[error("the answers do not make a valid config.json: {0}")]
    Config(#[from] sdw_provision::config::ConfigError),
}

/// The answers' defaults, as upstream's `sdw-admin --configure` offers them.
const DEFAULT_SD_APP_GIB: u64 = 10;
const DEFAULT_SD_LOG_GIB: u64 = 5;

/// Asks for every value of `dir/config.json` and the submission key, then writes
/// and validates the folder. A folder that already validates is left alone.
pub fn configure(dir: &Path, admin: Option<&Admin>) -> Result<(), ConfigureError> {
    match validate::validate(dir, admin) {
        Ok(_) => {
            println!(
                "{} already holds a valid configuration (Validating...OK): nothing to do. \
                 Remove its config.json to configure again.",
                dir.display()
            );
            return Ok(());
        }
        Err(validate::ValidationError::NoConfig(_)) => {}
        Err(e) => println!(
            "The configuration in {} is not valid ({e}); answer the questions to replace it.",
            dir.display()
        ),
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(ConfigureError::NoTerminal);
    }

    // The submission key: a file, checked as validate checks sd-journalist.sec.
    let existing = validate::key_path(dir);
    let mut found: Option<Vec<String>> = None;
    let mut prompt = Input::<String>::new().with_prompt(
        "Submission key: path of the journalist's armored secret key file (sd-journalist.sec)",
    );
    if existing.is_file() {
        prompt = prompt.default(existing.display().to_string());
    }
    let key_source = prompt
        .validate_with(|path: &String| -> Result<(), String> {
            let fingerprints =
                secret_key_fingerprints(Path::new(path.trim())).map_err(|e| e.to_string())?;
            found = Some(fingerprints.unwrap_or_default());
            Ok(())
        })
        .interact_text()?;
    let key_source = PathBuf::from(key_source.trim());
    let fingerprints = found.unwrap_or_default();
    let fingerprint = match fingerprints.as_slice() {
        [] => {
            println!("gpg is not installed: the fingerprint cannot be read from the key.");
            Input::<String>::new()
                .with_prompt("Submission key fingerprint (40 hex digits)")
                .validate_with(|f: &String| answer::fingerprint(f).map_err(|e| e.to_string()))
                .interact_text()?
        }
        [only] => only.clone(),
        several => {
            let chosen = Select::new()
                .with_prompt(
                    "The key file holds several secret keys: which one is the submission key?",
                )
                .items(several)
                .default(0)
                .interact()?;
            several.get(chosen).cloned().unwrap_or_default()
        }
    };
    println!("Submission key fingerprint: {fingerprint}");

    let hostname = Input::<String>::new()
        .with_prompt("Journalist Interface onion address (56 characters, then .onion)")
        .validate_with(|h: &String| answer::hostname(h).map_err(|e| e.to_string()))
        .interact_text()?;
    // Secret: read without echo, kept in memory that is wiped when dropped.
    let key = Zeroizing::new(
        Password::new()
            .with_prompt(
                "Journalist Interface client authentication key (52 characters, not shown)",
            )
            .validate_with(|k: &String| answer::client_auth_key(k).map_err(|e| e.to_string()))
            .interact()?,
    );
    let environment = Input::<String>::new()
        .with_prompt("Environment (prod, staging or dev)")
        .default("prod".into())
        .validate_with(|e: &String| answer::environment(e).map(drop).map_err(|e| e.to_string()))
        .interact_text()?;
    let environment = answer::environment(&environment)?;
    let sd_app = ask_size("sd-app", CLIENT_QUBE, DEFAULT_SD_APP_GIB, admin)?;
    let sd_log = ask_size("sd-log", "sd-log", DEFAULT_SD_LOG_GIB, admin)?;

    let config = Dom0Config::from_parts(
        &fingerprint,
        HiddenService {
            hostname,
            key: key.as_str().to_owned(),
        },
        environment,
        VmSizes { sd_app, sd_log },
    )?;
    let validated = write(dir, &config, &key_source, admin)?;
    println!(
        "Wrote {} and {} (both readable by their owner only).",
        validate::config_path(dir).display(),
        validated.key_path.display()
    );
    println!("Validating...OK");
    Ok(())
}

/// A private volume size in GiB: an integer of at least 1, and not smaller than the live volume.
fn ask_size(
    label: &'static str,
    qube: &'static str,
    default: u64,
    admin: Option<&Admin>,
) -> Result<u64, ConfigureError> {
    let text = Input::<String>::new()
        .with_prompt(format!("Private volume size of {label} in GiB"))
        .default(default.to_string())
        .validate_with(|s: &String| -> Result<(), String> {
            let gib = answer::size(label, s.trim()).map_err(|e| e.to_string())?;
            match admin {
                Some(admin) => {
                    check_volume(admin, qube, gib.saturating_mul(GIB)).map_err(|e| e.to_string())
                }
                None => Ok(()),
            }
        })
        .interact_text()?;
    Ok(answer::size(label, text.trim())?)
}
