//! The companion client crate used in sd-app (being built: issue 6).
