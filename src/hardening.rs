//! What the process does to itself before anything else: no core dumps, so
//! that a crash never writes the passphrase (or the archive's files) to disk.

use nix::sys::prctl;
use nix::sys::resource::{setrlimit, Resource};

/// Marks the process not dumpable (`PR_SET_DUMPABLE` 0: no core dump, no
/// ptrace by other processes of the same user, `/proc/PID` owned by root)
/// and sets `RLIMIT_CORE` to 0, soft and hard, so no child dumps either.
pub fn forbid_core_dumps() -> Result<(), nix::Error> {
    let dumpable = prctl::set_dumpable(false);
    let limit = setrlimit(Resource::RLIMIT_CORE, 0, 0);
    dumpable.and(limit)
}

#[cfg(test)]
mod tests {
    use nix::sys::resource::getrlimit;

    use super::*;

    #[test]
    fn core_dumps_are_off_after_the_call() {
        forbid_core_dumps().unwrap();
        assert!(!prctl::get_dumpable().unwrap());
        assert_eq!(getrlimit(Resource::RLIMIT_CORE).unwrap(), (0, 0));
    }
}
