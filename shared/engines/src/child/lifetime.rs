//! Tools die with cairn: a `kill -9` of cairn must not leave a loader behind that, on
//! reaching the end of its (now closed) input, would go on to finish its work.
//!
//! Linux delivers a chosen signal to a process when the thread that forked it ends
//! (`PR_SET_PDEATHSIG`). It is kept across `execve` of ordinary (not set-user-ID)
//! programs, so it also covers Debian's `psql`/`pg_dumpall`, perl wrappers that `exec`
//! the real binary. The thread that counts is the spawning one: tokio spawns from its
//! worker threads, which live as long as the runtime, i.e. as long as cairn.

use tokio::process::Command;

/// Arranges for the child of `cmd` to get SIGKILL when cairn dies.
// `pre_exec` is unsafe because the closure runs between fork and exec, where only
// async-signal-safe calls are allowed; `prctl` and `getppid` are plain system calls.
#[allow(unsafe_code)]
pub(super) fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure only makes two system calls and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // cairn may have died between fork and prctl: then nobody sends the signal.
            if libc::getppid() != parent {
                return Err(std::io::Error::other(
                    "cairn exited while starting the tool",
                ));
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::{Duration, Instant};

    fn alive(pid: i32) -> bool {
        // A zombie still has a /proc entry: read its state.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
    }

    /// A helper process (this test binary, re-run in child mode) starts a `sleep` through
    /// `die_with_parent` and is then killed with SIGKILL: the sleep must die too.
    #[test]
    fn a_tool_dies_when_its_parent_is_killed() {
        if let Ok(pidfile) = std::env::var("CAIRN_LIFETIME_CHILD") {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut cmd = tokio::process::Command::new("sh");
                cmd.args(["-c", "exec sleep 300"]);
                super::die_with_parent(&mut cmd);
                let child = cmd.spawn().unwrap();
                std::fs::write(&pidfile, child.id().unwrap().to_string()).unwrap();
                tokio::time::sleep(Duration::from_secs(300)).await;
            });
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let mut helper = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child::lifetime::tests::a_tool_dies_when_its_parent_is_killed",
                "--nocapture",
            ])
            .env("CAIRN_LIFETIME_CHILD", &pidfile)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let tool: i32 = loop {
            if let Ok(s) = std::fs::read_to_string(&pidfile) {
                if let Ok(pid) = s.trim().parse() {
                    break pid;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the helper never started its tool"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(alive(tool));
        helper.kill().unwrap();
        helper.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(tool) {
            assert!(
                Instant::now() < deadline,
                "the tool {tool} outlived its killed parent"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
