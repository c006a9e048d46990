//! Reading qrexec policy files the way qrexec does: first matching line wins.
//!
//! Owns a small evaluator for the subset of the policy language our files use
//! (`@anyvm`, `@tag:`, `@dispvm:`, `@default`, names, `dom0`), so that `check`
//! can assert the same edges as SecureDrop Workstation's `test_rpc_policy.py`
//! against the installed files and the live qube list.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub service: String,
    pub argument: String,
    pub source: String,
    pub target: String,
    pub action: String,
    pub line: String,
}

/// Tags of each qube, to resolve `@tag:` tokens.
pub type Tags = BTreeMap<String, BTreeSet<String>>;

/// Parses policy text (files concatenated in lexical order) into rules.
pub fn parse(text: &str) -> Vec<Rule> {
    text.lines()
        .filter_map(|line| {
            let content = line.split('#').next().unwrap_or("").trim();
            let mut tokens = content.split_whitespace();
            Some(Rule {
                service: tokens.next()?.to_owned(),
                argument: tokens.next()?.to_owned(),
                source: tokens.next()?.to_owned(),
                target: tokens.next()?.to_owned(),
                action: tokens.next()?.to_owned(),
                line: content.to_owned(),
            })
        })
        .collect()
}

fn is_admin(name: &str) -> bool {
    name == "dom0" || name == "@adminvm"
}

fn has_tag(tags: &Tags, qube: &str, tag: &str) -> bool {
    tags.get(qube).is_some_and(|t| t.contains(tag))
}

fn source_matches(token: &str, source: &str, tags: &Tags) -> bool {
    match token {
        "@anyvm" => !is_admin(source),
        "@adminvm" | "dom0" => is_admin(source),
        t => match t.strip_prefix("@tag:") {
            Some(tag) => !is_admin(source) && has_tag(tags, source, tag),
            None => t == source,
        },
    }
}

fn target_matches(token: &str, target: &str, tags: &Tags) -> bool {
    match token {
        "@anyvm" => !is_admin(target),
        "@adminvm" | "dom0" => is_admin(target),
        "@default" => target == "@default",
        t => match t.strip_prefix("@tag:") {
            Some(tag) => {
                !is_admin(target) && !target.starts_with('@') && has_tag(tags, target, tag)
            }
            None => t == target,
        },
    }
}

/// The action of the first rule matching `service` from `source` to `target`
/// (`target` may be `@default` or `@dispvm:NAME`), or None if no rule matches.
pub fn evaluate<'a>(
    rules: &'a [Rule],
    service: &str,
    source: &str,
    target: &str,
    tags: &Tags,
) -> Option<&'a Rule> {
    rules.iter().find(|r| {
        (r.service == service || r.service == "*")
            && r.argument == "*"
            && source_matches(&r.source, source, tags)
            && target_matches(&r.target, target, tags)
    })
}

/// Whether the first matching rule allows the call.
pub fn allows(rules: &[Rule], service: &str, source: &str, target: &str, tags: &Tags) -> bool {
    evaluate(rules, service, source, target, tags).is_some_and(|r| r.action == "allow")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{POLICY_ALLOW, POLICY_DENY};

    fn rules() -> Vec<Rule> {
        parse(&format!("{POLICY_ALLOW}\n{POLICY_DENY}"))
    }

    fn tags() -> Tags {
        let t = |name: &str, tags: &[&str]| {
            (
                name.to_owned(),
                tags.iter().map(|s| (*s).to_owned()).collect(),
            )
        };
        [
            t("sd-app", &["sd-workstation", "sd-client"]),
            t("sd-gpg", &["sd-workstation"]),
            t("sd-log", &["sd-workstation"]),
            t("sd-proxy", &["sd-workstation"]),
            t("sd-viewer", &["sd-workstation"]),
            t("sd-devices", &["sd-workstation", "sd-export-target"]),
            t("sd-printers", &["sd-workstation", "sd-export-target"]),
            t("sys-usb", &[]),
            t("sys-net", &[]),
            t("sys-firewall", &[]),
            t("work", &["sd-send-app-clipboard"]),
        ]
        .into()
    }

    #[test]
    fn every_sdw_qube_but_sd_log_may_log_to_sd_log_and_no_other_qube_may() {
        let (r, t) = (rules(), tags());
        for q in [
            "sd-app",
            "sd-gpg",
            "sd-proxy",
            "sd-viewer",
            "sd-devices",
            "sd-printers",
        ] {
            assert!(allows(&r, "securedrop.Log", q, "sd-log", &t), "{q}");
        }
        for q in ["sd-log", "sys-usb", "sys-net", "work"] {
            assert!(!allows(&r, "securedrop.Log", q, "sd-log", &t), "{q}");
        }
    }

    #[test]
    fn proxy_gpg_and_secret_keys_edges_match_test_rpc_policy() {
        let (r, t) = (rules(), tags());
        assert!(allows(&r, "securedrop.Proxy", "sd-app", "sd-proxy", &t));
        assert!(!allows(&r, "securedrop.Proxy", "sys-net", "sd-proxy", &t));
        assert!(!allows(
            &r,
            "securedrop.Proxy",
            "sys-firewall",
            "sd-proxy",
            &t
        ));
        for s in ["qubes.Gpg", "qubes.GpgImportKey", "qubes.Gpg2"] {
            assert!(allows(&r, s, "sd-app", "sd-gpg", &t));
            assert!(!allows(&r, s, "sys-net", "sd-gpg", &t));
            assert!(!allows(&r, s, "sys-firewall", "sd-gpg", &t));
        }
        assert!(allows(&r, "securedrop.GetSecretKeys", "sd-gpg", "dom0", &t));
        for q in [
            "sd-app",
            "sd-log",
            "sd-proxy",
            "sd-viewer",
            "sd-devices",
            "work",
        ] {
            assert!(
                !allows(&r, "securedrop.GetSecretKeys", q, "dom0", &t),
                "{q}"
            );
        }
    }

    #[test]
    fn only_sd_app_may_call_the_export_service_and_only_in_the_device_qubes() {
        let (r, t) = (rules(), tags());
        for target in ["sd-devices", "sd-printers"] {
            assert!(
                allows(&r, "securedrop.Export", "sd-app", target, &t),
                "{target}"
            );
            for src in [
                "sd-viewer",
                "sd-gpg",
                "sd-proxy",
                "sys-usb",
                "work",
                "sd-printers",
                "sd-devices",
            ] {
                let rule = evaluate(&r, "securedrop.Export", src, target, &t);
                assert_eq!(
                    rule.map(|r| r.action.as_str()),
                    Some("deny"),
                    "{src} -> {target}"
                );
            }
        }
        for target in [
            "sd-gpg",
            "sd-log",
            "sd-proxy",
            "sd-viewer",
            "work",
            "@dispvm:sd-viewer",
        ] {
            assert!(
                !allows(&r, "securedrop.Export", "sd-app", target, &t),
                "{target}"
            );
        }
    }

    #[test]
    fn usb_attach_reaches_export_targets_only() {
        let (r, t) = (rules(), tags());
        assert!(allows(&r, "qubes.USBAttach", "sys-usb", "sd-devices", &t));
        assert!(allows(&r, "qubes.USBAttach", "sys-usb", "sd-printers", &t));
        assert!(allows(&r, "qubes.USB", "sd-devices", "sys-usb", &t));
        // Upstream's "@anyvm @anyvm ask" line in 31 would shadow these denies.
        for q in ["sd-app", "sd-gpg", "sd-log", "sd-proxy"] {
            let rule = evaluate(&r, "qubes.USBAttach", "sys-usb", q, &t);
            assert_eq!(rule.map(|r| r.action.as_str()), Some("deny"), "{q}");
        }
        assert_eq!(evaluate(&r, "qubes.USBAttach", "sys-usb", "work", &t), None);
    }

    #[test]
    fn only_sd_devices_opens_files_in_a_viewer_disposable() {
        let (r, t) = (rules(), tags());
        assert!(allows(
            &r,
            "qubes.OpenInVM",
            "sd-app",
            "@dispvm:sd-viewer",
            &t
        ));
        assert!(allows(&r, "qubes.OpenInVM", "sd-app", "sd-devices", &t));
        assert!(allows(
            &r,
            "qubes.OpenInVM",
            "sd-devices",
            "@dispvm:sd-viewer",
            &t
        ));
        assert!(!allows(
            &r,
            "qubes.OpenInVM",
            "sd-printers",
            "@dispvm:sd-viewer",
            &t
        ));
        assert!(!allows(&r, "qubes.OpenInVM", "work", "sd-app", &t));
    }

    #[test]
    fn clipboard_paste_asks_only_for_opted_in_qubes() {
        let (r, t) = (rules(), tags());
        let action = |s: &str, d: &str| {
            evaluate(&r, "qubes.ClipboardPaste", s, d, &t).map(|r| r.action.clone())
        };
        assert_eq!(action("work", "sd-app").as_deref(), Some("ask"));
        assert_eq!(action("sys-net", "sd-app").as_deref(), Some("deny"));
    }

    #[test]
    fn every_listed_service_is_denied_in_both_directions() {
        let (r, t) = (rules(), tags());
        for s in [
            "qubes.VMShell",
            "qubes.VMExec",
            "qubes.Filecopy",
            "qubes.OpenURL",
            "qubes.StartApp",
            "qubes.PdfConvert",
        ] {
            assert!(!allows(&r, s, "work", "sd-app", &t), "{s} into sd-app");
            assert!(!allows(&r, s, "sd-app", "work", &t), "{s} out of sd-app");
        }
    }
}
