//! Child processes that do not outlive the test that started them.

use std::process::{Child, ExitStatus};
use std::time::Duration;

use crate::wait::poll_until;

/// A spawned child process, killed (and reaped) when the guard is dropped,
/// so a failing assertion does not leave a server or worker running.
/// Derefs to the [`Child`].
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
}

impl ChildGuard {
    /// Guards `child`.
    pub fn new(child: Child) -> Self {
        ChildGuard { child }
    }

    /// Waits up to `limit` for the child to exit and returns its status; a
    /// child still running then is killed and the test fails naming `what`.
    pub fn wait_timeout(&mut self, limit: Duration, what: &str) -> ExitStatus {
        let mut status = None;
        let waited = poll_until(&format!("{what} to exit"), limit, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        match status {
            Some(status) => status,
            None => {
                self.kill();
                match waited {
                    Err(e) => panic!("{e}"),
                    Ok(()) => panic!("{what}: exit status unavailable"),
                }
            }
        }
    }

    /// Kills the child now and reaps it; a child that already exited is fine.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl From<Child> for ChildGuard {
    fn from(child: Child) -> Self {
        ChildGuard::new(child)
    }
}

impl std::ops::Deref for ChildGuard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn waits_for_an_exit() {
        let mut child = ChildGuard::new(Command::new("true").spawn().unwrap());
        assert!(child
            .wait_timeout(Duration::from_secs(10), "true")
            .success());
    }

    #[test]
    fn drop_kills_the_child() {
        let child = ChildGuard::new(Command::new("sleep").arg("30").spawn().unwrap());
        let pid = child.id();
        drop(child);
        let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
        assert!(!proc_dir.exists(), "sleep {pid} still running");
    }

    #[test]
    #[should_panic(expected = "sleep to exit")]
    fn a_hang_fails_and_is_killed() {
        let mut child = ChildGuard::new(Command::new("sleep").arg("30").spawn().unwrap());
        child.wait_timeout(Duration::from_millis(50), "sleep");
    }
}
