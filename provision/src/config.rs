//! `config.json`: parsing and validation of the dom0 configuration.
//!
//! Owns the rules of SecureDrop Workstation's `Dom0Config.parse`, checked top to
//! bottom; the first failing rule is reported with the upstream message, byte for
//! byte. Pure: no I/O (the key file and the live system are checked in
//! [`crate::validate`]).
//!
//! Deliberate differences from the upstream parser, each of which only refuses a
//! configuration that upstream accepts and that breaks provisioning later:
//! * a value followed by a newline (`re.match` with `$` accepts one) is refused
//!   by the same rule: it would end up in a qube feature, where qubesd refuses
//!   anything outside printable ASCII;
//! * a private volume size below 1 GiB is refused after all upstream rules.

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

/// The first rule that a `config.json` breaks; `Display` is the upstream message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("config.json must contain a JSON object at the top level")]
    NotAnObject,
    #[error("'submission_key_fpr' is not defined in config.json")]
    MissingFingerprint,
    #[error("Invalid PGP key fingerprint specified")]
    InvalidFingerprint,
    #[error("'hidserv' is not defined in config.json")]
    MissingHidserv,
    #[error("'hidserv' must be a JSON object")]
    HidservNotAnObject,
    #[error("hidden service hostname is not defined in config.json")]
    MissingHostname,
    #[error("Invalid hidden service hostname specified")]
    InvalidHostname,
    #[error("hidden service key is not defined in config.json")]
    MissingKey,
    #[error("Invalid hidden service key specified")]
    InvalidKey,
    #[error("'environment' is not defined in config.json")]
    MissingEnvironment,
    #[error("Invalid environment: {0}")]
    InvalidEnvironment(String),
    #[error("Private volume sizes ('vmsizes') are not defined in config.json")]
    MissingVmsizes,
    #[error("'vmsizes' must be a JSON object")]
    VmsizesNotAnObject,
    #[error("Private volume size of {0} must be defined in config.json")]
    MissingSize(&'static str),
    #[error("Private volume size of {0} must be an integer value.")]
    SizeNotAnInteger(&'static str),
    #[error("Private volume size of {0} must be at least 1 GiB")]
    SizeTooSmall(&'static str),
}

/// Where the packages come from, and whether `internal=1` is set on sd-viewer and sd-proxy-dvm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Prod,
    Staging,
    Dev,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Prod => "prod",
            Environment::Staging => "staging",
            Environment::Dev => "dev",
        }
    }
}

/// The journalist interface onion service and its client-auth key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HiddenService {
    pub hostname: String,
    pub key: String,
}

/// Private volume sizes in GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VmSizes {
    pub sd_app: u64,
    pub sd_log: u64,
}

pub const GIB: u64 = 1024 * 1024 * 1024;

impl VmSizes {
    pub fn sd_app_bytes(&self) -> u64 {
        self.sd_app.saturating_mul(GIB)
    }
    pub fn sd_log_bytes(&self) -> u64 {
        self.sd_log.saturating_mul(GIB)
    }
}

/// A validated `config.json`. Fields are private: a `Dom0Config` can only come from [`Dom0Config::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dom0Config {
    submission_key_fpr: String,
    hidserv: HiddenService,
    environment: Environment,
    vmsizes: VmSizes,
}

impl Dom0Config {
    pub fn submission_key_fpr(&self) -> &str {
        &self.submission_key_fpr
    }
    pub fn hidserv(&self) -> &HiddenService {
        &self.hidserv
    }
    pub fn environment(&self) -> Environment {
        self.environment
    }
    pub fn vmsizes(&self) -> VmSizes {
        self.vmsizes
    }

    /// Parses the text of a `config.json`. Invalid JSON is reported as [`ParseError::Json`].
    pub fn parse_str(text: &str) -> Result<Self, ParseError> {
        let value: Value = serde_json::from_str(text).map_err(ParseError::Json)?;
        Self::parse(&value).map_err(ParseError::Invalid)
    }

    /// Applies the rules of `Dom0Config.parse` in order and returns the first failure.
    pub fn parse(value: &Value) -> Result<Self, ConfigError> {
        let top = value.as_object().ok_or(ConfigError::NotAnObject)?;

        let fpr = top
            .get("submission_key_fpr")
            .ok_or(ConfigError::MissingFingerprint)?;
        let fpr = fpr
            .as_str()
            .filter(|s| is_fingerprint(s))
            .ok_or(ConfigError::InvalidFingerprint)?;

        let hidserv = top.get("hidserv").ok_or(ConfigError::MissingHidserv)?;
        let hidserv = hidserv.as_object().ok_or(ConfigError::HidservNotAnObject)?;
        let hostname = hidserv
            .get("hostname")
            .ok_or(ConfigError::MissingHostname)?;
        let hostname = hostname
            .as_str()
            .filter(|s| is_onion_v3(s))
            .ok_or(ConfigError::InvalidHostname)?;
        let key = hidserv.get("key").ok_or(ConfigError::MissingKey)?;
        let key = key
            .as_str()
            .filter(|s| is_client_auth_key(s))
            .ok_or(ConfigError::InvalidKey)?;

        let environment = top
            .get("environment")
            .ok_or(ConfigError::MissingEnvironment)?;
        let environment = match environment.as_str() {
            Some(name) => answer::environment(name)?,
            None => return Err(ConfigError::InvalidEnvironment(environment.to_string())),
        };

        let vmsizes = top.get("vmsizes").ok_or(ConfigError::MissingVmsizes)?;
        let vmsizes = vmsizes.as_object().ok_or(ConfigError::VmsizesNotAnObject)?;
        let sd_app_raw = vmsizes
            .get("sd_app")
            .ok_or(ConfigError::MissingSize("sd-app"))?;
        let sd_log_raw = vmsizes
            .get("sd_log")
            .ok_or(ConfigError::MissingSize("sd-log"))?;
        let sd_app = integer(sd_app_raw).ok_or(ConfigError::SizeNotAnInteger("sd-app"))?;
        let sd_log = integer(sd_log_raw).ok_or(ConfigError::SizeNotAnInteger("sd-log"))?;
        let sd_app = positive(sd_app).ok_or(ConfigError::SizeTooSmall("sd-app"))?;
        let sd_log = positive(sd_log).ok_or(ConfigError::SizeTooSmall("sd-log"))?;

        Ok(Dom0Config {
            submission_key_fpr: fpr.to_owned(),
            hidserv: HiddenService {
                hostname: hostname.to_owned(),
                key: key.to_owned(),
            },
            environment,
            vmsizes: VmSizes { sd_app, sd_log },
        })
    }
}

/// The rules of [`Dom0Config::parse`] for one answer at a time (the guided first
/// run, [`crate::configure`]), so that an answer is refused with the message the
/// whole file would be refused with.
pub mod answer {
    use super::{ConfigError, Environment};

    /// `submission_key_fpr` (40 hex digits, either case).
    pub fn fingerprint(s: &str) -> Result<(), ConfigError> {
        super::is_fingerprint(s)
            .then_some(())
            .ok_or(ConfigError::InvalidFingerprint)
    }

    /// `hidserv.hostname` (a v3 onion address).
    pub fn hostname(s: &str) -> Result<(), ConfigError> {
        super::is_onion_v3(s)
            .then_some(())
            .ok_or(ConfigError::InvalidHostname)
    }

    /// `hidserv.key` (the base32 x25519 client-auth private key).
    pub fn client_auth_key(s: &str) -> Result<(), ConfigError> {
        super::is_client_auth_key(s)
            .then_some(())
            .ok_or(ConfigError::InvalidKey)
    }

    /// `environment`.
    pub fn environment(s: &str) -> Result<Environment, ConfigError> {
        match s {
            "prod" => Ok(Environment::Prod),
            "staging" => Ok(Environment::Staging),
            "dev" => Ok(Environment::Dev),
            other => Err(ConfigError::InvalidEnvironment(other.to_owned())),
        }
    }

    /// A private volume size in GiB, typed as a decimal integer.
    pub fn size(qube: &'static str, s: &str) -> Result<u64, ConfigError> {
        let n: i128 = s.parse().map_err(|_| ConfigError::SizeNotAnInteger(qube))?;
        super::positive(n).ok_or(ConfigError::SizeTooSmall(qube))
    }
}

impl Dom0Config {
    /// A configuration from its parts, checked by [`Dom0Config::parse`] as a whole.
    pub fn from_parts(
        submission_key_fpr: &str,
        hidserv: HiddenService,
        environment: Environment,
        vmsizes: VmSizes,
    ) -> Result<Self, ConfigError> {
        let value = serde_json::json!({
            "submission_key_fpr": submission_key_fpr,
            "hidserv": {"hostname": hidserv.hostname, "key": hidserv.key},
            "environment": environment.as_str(),
            "vmsizes": {"sd_app": vmsizes.sd_app, "sd_log": vmsizes.sd_log},
        });
        Self::parse(&value)
    }

    /// The `config.json` text (the layout of `config.json.example`).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Why a `config.json` text was refused.
#[derive(Debug, Error)]
pub enum ParseError {
    #[error("config.json is not valid JSON: {0}")]
    Json(serde_json::Error),
    #[error("{0}")]
    Invalid(ConfigError),
}

/// A JSON integer that is not a bool (Python's `isinstance(v, int) and not isinstance(v, bool)`).
/// serde_json already keeps `true` apart from `1` and `10.0` apart from `10`.
fn integer(value: &Value) -> Option<i128> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    }
}

fn positive(size: i128) -> Option<u64> {
    u64::try_from(size).ok().filter(|s| *s >= 1)
}

fn is_fingerprint(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_base32_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)
}

fn is_base32_upper(b: u8) -> bool {
    b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)
}

fn is_onion_v3(s: &str) -> bool {
    match s.strip_suffix(".onion") {
        Some(label) => label.len() == 56 && label.bytes().all(is_base32_lower),
        None => false,
    }
}

fn is_client_auth_key(s: &str) -> bool {
    s.len() == 52 && s.bytes().all(is_base32_upper)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "submission_key_fpr": "65A1B5FF195B56353CC63DFFCC40EF1228271441",
            "hidserv": {
                "hostname": "sdolvtfhatvsysc6l34d65ymdwxcujausv7k5jk4cy5ttzhjoi6fzvyd.onion",
                "key": "5U4JPYSZ34N2ZDSOUAL2YLEX2NPI5BLL2Y66QJW24KLSH7R3FEPQ"
            },
            "environment": "prod",
            "vmsizes": {"sd_app": 10, "sd_log": 5}
        })
    }

    fn with(change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
        let mut v = good();
        if let Value::Object(map) = &mut v {
            change(map);
        }
        match Dom0Config::parse(&v) {
            Ok(_) => "accepted".to_owned(),
            Err(e) => e.to_string(),
        }
    }

    fn sub(map: &mut serde_json::Map<String, Value>, key: &str) -> serde_json::Map<String, Value> {
        match map.get(key) {
            Some(Value::Object(m)) => m.clone(),
            _ => serde_json::Map::new(),
        }
    }

    #[test]
    fn accepts_the_example_config() {
        let config = Dom0Config::parse(&good()).ok();
        let config = config.as_ref();
        assert_eq!(
            config.map(|c| c.vmsizes()),
            Some(VmSizes {
                sd_app: 10,
                sd_log: 5
            })
        );
        assert_eq!(config.map(|c| c.environment()), Some(Environment::Prod));
    }

    #[test]
    fn rejects_non_objects_at_top_level() {
        for v in [json!([]), json!("x"), json!(3), Value::Null] {
            assert_eq!(Dom0Config::parse(&v), Err(ConfigError::NotAnObject));
        }
    }

    #[test]
    fn reports_each_missing_key_with_the_upstream_message() {
        assert_eq!(
            with(|m| {
                m.remove("submission_key_fpr");
            }),
            "'submission_key_fpr' is not defined in config.json"
        );
        assert_eq!(
            with(|m| {
                m.remove("hidserv");
            }),
            "'hidserv' is not defined in config.json"
        );
        assert_eq!(
            with(|m| {
                m.remove("environment");
            }),
            "'environment' is not defined in config.json"
        );
        assert_eq!(
            with(|m| {
                m.remove("vmsizes");
            }),
            "Private volume sizes ('vmsizes') are not defined in config.json"
        );
        assert_eq!(
            with(|m| {
                let mut h = sub(m, "hidserv");
                h.remove("hostname");
                m.insert("hidserv".into(), Value::Object(h));
            }),
            "hidden service hostname is not defined in config.json"
        );
        assert_eq!(
            with(|m| {
                let mut h = sub(m, "hidserv");
                h.remove("key");
                m.insert("hidserv".into(), Value::Object(h));
            }),
            "hidden service key is not defined in config.json"
        );
        assert_eq!(
            with(|m| {
                let mut s = sub(m, "vmsizes");
                s.remove("sd_app");
                m.insert("vmsizes".into(), Value::Object(s));
            }),
            "Private volume size of sd-app must be defined in config.json"
        );
        assert_eq!(
            with(|m| {
                let mut s = sub(m, "vmsizes");
                s.remove("sd_log");
                m.insert("vmsizes".into(), Value::Object(s));
            }),
            "Private volume size of sd-log must be defined in config.json"
        );
    }

    #[test]
    fn rejects_malformed_values() {
        assert_eq!(
            with(|m| {
                m.insert(
                    "submission_key_fpr".into(),
                    json!("65A1B5FF195B56353CC63DFFCC40EF122827144"[..37].to_owned()),
                );
            }),
            "Invalid PGP key fingerprint specified"
        );
        assert_eq!(
            with(|m| {
                m.insert("submission_key_fpr".into(), json!(42));
            }),
            "Invalid PGP key fingerprint specified"
        );
        assert_eq!(
            with(|m| {
                m.insert(
                    "hidserv".into(),
                    json!({"hostname": "sdolvtfhatvsysc6l34d65ymdwxcuj.onion",
                           "key": "5U4JPYSZ34N2ZDSOUAL2YLEX2NPI5BLL2Y66QJW24KLSH7R3FEPQ"}),
                );
            }),
            "Invalid hidden service hostname specified"
        );
        assert_eq!(
            with(|m| {
                let mut h = sub(m, "hidserv");
                h.insert("key".into(), json!("5U4JPYSZ34N2ZDSOUAL"));
                m.insert("hidserv".into(), Value::Object(h));
            }),
            "Invalid hidden service key specified"
        );
        assert_eq!(
            with(|m| {
                m.insert("hidserv".into(), json!("string"));
            }),
            "'hidserv' must be a JSON object"
        );
        assert_eq!(
            with(|m| {
                m.insert("environment".into(), json!("production"));
            }),
            "Invalid environment: production"
        );
        for bad in [json!([10, 5]), json!(42)] {
            assert_eq!(
                with(|m| {
                    m.insert("vmsizes".into(), bad);
                }),
                "'vmsizes' must be a JSON object"
            );
        }
    }

    #[test]
    fn rejects_sizes_that_are_not_integers() {
        for (app, log, msg) in [
            (json!("10"), json!(5), "sd-app"),
            (json!(true), json!(5), "sd-app"),
            (json!(10), json!(false), "sd-log"),
            (json!(10.0), json!(5), "sd-app"),
        ] {
            assert_eq!(
                with(|m| {
                    m.insert("vmsizes".into(), json!({"sd_app": app, "sd_log": log}));
                }),
                format!("Private volume size of {msg} must be an integer value.")
            );
        }
    }

    #[test]
    fn refuses_sizes_below_one_gib_after_the_upstream_rules() {
        assert_eq!(
            with(|m| {
                m.insert("vmsizes".into(), json!({"sd_app": 0, "sd_log": 5}));
            }),
            "Private volume size of sd-app must be at least 1 GiB"
        );
        assert_eq!(
            with(|m| {
                m.insert("vmsizes".into(), json!({"sd_app": 10, "sd_log": -1}));
            }),
            "Private volume size of sd-log must be at least 1 GiB"
        );
    }

    #[test]
    fn refuses_a_trailing_newline_that_python_re_match_would_accept() {
        assert_eq!(
            with(|m| {
                let mut h = sub(m, "hidserv");
                h.insert(
                    "hostname".into(),
                    json!("sdolvtfhatvsysc6l34d65ymdwxcujausv7k5jk4cy5ttzhjoi6fzvyd.onion\n"),
                );
                m.insert("hidserv".into(), Value::Object(h));
            }),
            "Invalid hidden service hostname specified"
        );
    }

    #[test]
    fn accepts_a_lowercase_fingerprint_and_ignores_unknown_keys() {
        assert_eq!(
            with(|m| {
                m.insert(
                    "submission_key_fpr".into(),
                    json!("65a1b5ff195b56353cc63dffcc40ef1228271441"),
                );
                m.insert("extra".into(), json!({"anything": 1}));
            }),
            "accepted"
        );
    }

    #[test]
    fn reports_invalid_json_apart_from_rule_failures() {
        assert!(matches!(
            Dom0Config::parse_str("{"),
            Err(ParseError::Json(_))
        ));
    }

    /// The order of the rules is part of the contract: a config with several faults
    /// reports the earliest rule.
    #[test]
    fn reports_the_first_failing_rule() {
        let v = json!({"submission_key_fpr": "nope", "environment": "x"});
        assert_eq!(Dom0Config::parse(&v), Err(ConfigError::InvalidFingerprint));
    }

    fn model_fpr_ok(s: &str) -> bool {
        s.chars().count() == 40 && s.chars().all(|c| c.is_ascii_hexdigit())
    }

    proptest! {
        #[test]
        fn fingerprint_rule_matches_the_regex_model(s in "[0-9a-fA-FgG\n]{38,42}") {
            let mut v = good();
            if let Value::Object(m) = &mut v {
                m.insert("submission_key_fpr".into(), json!(s.clone()));
            }
            let accepted = Dom0Config::parse(&v).is_ok();
            prop_assert_eq!(accepted, model_fpr_ok(&s));
        }

        #[test]
        fn never_panics_on_arbitrary_json(s in "\\PC{0,200}") {
            let _ = Dom0Config::parse_str(&s);
        }

        #[test]
        fn sizes_accept_exactly_positive_integers(n in proptest::num::i64::ANY) {
            let mut v = good();
            if let Value::Object(m) = &mut v {
                m.insert("vmsizes".into(), json!({"sd_app": n, "sd_log": 5}));
            }
            prop_assert_eq!(Dom0Config::parse(&v).is_ok(), n >= 1);
        }
    }

    #[test]
    fn each_answer_is_refused_with_the_message_of_the_whole_file() {
        assert_eq!(
            answer::fingerprint("65a1b5ff195b56353cc63dffcc40ef1228271441"),
            Ok(())
        );
        assert_eq!(
            answer::fingerprint("65A1B5FF195B56353CC63DFFCC40EF122827144")
                .map_err(|e| e.to_string()),
            Err("Invalid PGP key fingerprint specified".to_owned())
        );
        assert_eq!(
            answer::hostname("sdolvtfhatvsysc6l34d65ymdwxcuj.onion").map_err(|e| e.to_string()),
            Err("Invalid hidden service hostname specified".to_owned())
        );
        assert_eq!(
            answer::client_auth_key("5U4JPYSZ34N2ZDSOUAL").map_err(|e| e.to_string()),
            Err("Invalid hidden service key specified".to_owned())
        );
        assert_eq!(
            answer::environment("production").map_err(|e| e.to_string()),
            Err("Invalid environment: production".to_owned())
        );
        assert_eq!(answer::environment("dev"), Ok(Environment::Dev));
        assert_eq!(answer::size("sd-app", "12"), Ok(12));
        assert_eq!(
            answer::size("sd-app", "ten").map_err(|e| e.to_string()),
            Err("Private volume size of sd-app must be an integer value.".to_owned())
        );
        assert_eq!(
            answer::size("sd-log", "0").map_err(|e| e.to_string()),
            Err("Private volume size of sd-log must be at least 1 GiB".to_owned())
        );
        assert_eq!(
            answer::size("sd-log", "10.0"),
            Err(ConfigError::SizeNotAnInteger("sd-log"))
        );
    }

    #[test]
    fn a_configuration_from_parts_writes_the_example_s_json_and_parses_back() {
        let parsed = Dom0Config::parse(&good()).ok();
        let config = parsed.as_ref().map(|c| {
            Dom0Config::from_parts(
                c.submission_key_fpr(),
                c.hidserv().clone(),
                c.environment(),
                c.vmsizes(),
            )
        });
        let config = config.and_then(Result::ok);
        assert_eq!(config, parsed);
        let text = config.map(|c| c.to_json()).unwrap_or_default();
        assert_eq!(
            serde_json::from_str::<Value>(&text).ok(),
            Some(good()),
            "{text}"
        );
        assert_eq!(Dom0Config::parse_str(&text).ok(), parsed);
    }
}
