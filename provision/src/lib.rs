//! dom0 provisioning (being built: issue 7).
