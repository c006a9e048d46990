//! Carrying out a [`Plan`]: Admin API calls, dom0 files, in-qube commands.
//!
//! Owns the execution of each [`Step`] in order, stopping at the first failure
//! and saying which step failed and how many were done. The decisions were made
//! by [`crate::plan`]; re-planning after an apply yields an empty plan.

use std::path::Path;

use thiserror::Error;
use tracing::info;

use crate::admin::{Admin, AdminError};
use crate::files::{self, FileError};
use crate::inqube::CONFIGURED_FEATURE;
use crate::plan::{Plan, Step};
use crate::runner::{QubeRunner, RunError};
use crate::wire::QubesError;

#[derive(Debug, Error)]
pub enum ApplyError {
    #[error("the plan has blockers:\n{0}")]
    Blocked(String),
    #[error("step {index} of {total} failed ({step}): {source}")]
    Step {
        index: usize,
        total: usize,
        step: String,
        source: Box<StepError>,
    },
}

#[derive(Debug, Error)]
pub enum StepError {
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{qube} private volume is already bigger than configuration ({size} > {bytes} bytes); volumes are never shrunk")]
    WouldShrink { qube: String, size: u64, bytes: u64 },
}

/// What apply talks to.
pub struct Target<'a> {
    pub admin: &'a Admin,
    pub runner: &'a mut dyn QubeRunner,
    pub root: &'a Path,
}

/// Runs every step in order; returns how many were carried out.
pub fn apply(plan: &Plan, target: &mut Target<'_>) -> Result<usize, ApplyError> {
    if !plan.blockers.is_empty() {
        let list: Vec<String> = plan.blockers.iter().map(|b| format!("  {b}")).collect();
        return Err(ApplyError::Blocked(list.join("\n")));
    }
    let total = plan.steps.len();
    for (i, step) in plan.steps.iter().enumerate() {
        info!(step = %step, "applying");
        run_step(step, target).map_err(|source| ApplyError::Step {
            index: i.saturating_add(1),
            total,
            step: step.to_string(),
            source: Box::new(source),
        })?;
    }
    Ok(total)
}

/// A disposable with `auto_cleanup` (e.g. a preloaded one) disappears when it is killed.
fn already_gone_is_fine(result: Result<(), AdminError>) -> Result<(), AdminError> {
    match result {
        Err(e) if matches!(e.qubes(), Some(QubesError::VmNotFound(_))) => Ok(()),
        other => other,
    }
}

pub fn run_step(step: &Step, t: &mut Target<'_>) -> Result<(), StepError> {
    let admin = t.admin;
    match step {
        Step::WriteFile {
            path,
            mode,
            content,
        } => files::write(t.root, path, *mode, content)?,
        Step::RemoveFile { path } => files::remove(t.root, path)?,
        Step::Create {
            qube,
            class,
            template,
            label,
        } => admin.create(class, template.as_deref(), qube, label)?,
        Step::Clone {
            qube,
            source,
            label,
        } => admin.clone_vm(source, qube, label)?,
        Step::Set {
            qube,
            property,
            value,
            ..
        } => admin.set_prop(qube, property, value)?,
        Step::Reset { qube, property, .. } => admin.reset_prop(qube, property)?,
        Step::SetFeature {
            qube,
            feature,
            value,
            ..
        } => admin.set_feature(qube, feature, value)?,
        Step::RemoveFeature { qube, feature, .. } => admin.remove_feature(qube, feature)?,
        Step::SetTag { qube, tag } => admin.set_tag(qube, tag)?,
        Step::RemoveTag { qube, tag } => admin.remove_tag(qube, tag)?,
        Step::Resize {
            qube,
            volume,
            bytes,
            ..
        } => {
            let size = admin.volume_size(qube, volume)?;
            if size > *bytes {
                return Err(StepError::WouldShrink {
                    qube: qube.clone(),
                    size,
                    bytes: *bytes,
                });
            }
            if size < *bytes {
                admin.resize(qube, volume, *bytes)?;
            }
        }
        Step::Configure {
            qube,
            digest,
            shutdown_after,
            commands,
            ..
        } => {
            for command in commands {
                t.runner.run(command)?;
            }
            if *shutdown_after {
                admin.shutdown(qube)?;
            }
            if !digest.is_empty() {
                admin.set_feature(qube, CONFIGURED_FEATURE, digest)?;
            }
        }
        Step::Shutdown { qube, .. } => admin.shutdown(qube)?,
        Step::Kill { qube, .. } => already_gone_is_fine(admin.kill(qube))?,
        Step::Start { qube } => admin.start(qube)?,
        Step::Remove { qube, .. } => already_gone_is_fine(admin.remove(qube))?,
        Step::SetGlobal {
            property, value, ..
        } => admin.set_global_prop(property, value)?,
    }
    Ok(())
}
