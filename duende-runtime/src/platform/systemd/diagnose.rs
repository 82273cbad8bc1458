//! The systemd backend's part of `check`: is systemd the init system, is `systemctl` there, and
//! for a user service, does the user linger. [`Facts::gather`] reads the host once; [`findings`]
//! is a pure function of the facts.

use std::path::{Path, PathBuf};

use crate::platform::backend::Level;
use crate::platform::finding::{Finding, Mark};
use crate::platform::host::Host;

const SECTION: &str = "service manager";

/// What the systemd checks look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Where `systemctl` is on `PATH`.
    pub systemctl: Option<PathBuf>,
    /// `/run/systemd/system` exists.
    pub booted: bool,
    /// The effective user id, where the target has users.
    pub euid: Option<u32>,
    /// The user's name (`$USER`, else `$LOGNAME`).
    pub user: Option<String>,
    /// `/var/lib/systemd/linger/USER` exists.
    pub linger: bool,
}

impl Facts {
    /// Reads the facts from `host`.
    pub fn gather(host: &Host) -> Facts {
        let user = host.user().map(str::to_owned);
        Facts {
            systemctl: host.find_tool("systemctl"),
            booted: host.path(Path::new("/run/systemd/system")).is_dir(),
            euid: host.euid,
            linger: user.as_ref().is_some_and(|u| host.path(&Path::new("/var/lib/systemd/linger").join(u)).exists()),
            user,
        }
    }
}

/// What `check` says about systemd for a service at `level`.
pub fn findings(facts: &Facts, level: Level) -> Vec<Finding> {
    let mut found = Vec::new();
    match (facts.booted, &facts.systemctl) {
        (true, Some(path)) => found.push(Finding::new(
            SECTION,
            Mark::Ok,
            format!("systemd is reachable: /run/systemd/system exists and systemctl is {}", path.display()),
            None,
        )),
        (booted, systemctl) => {
            let mut missing = Vec::new();
            if !booted {
                missing.push("/run/systemd/system is absent, so systemd is not the init system");
            }
            if systemctl.is_none() {
                missing.push("systemctl is not on PATH");
            }
            let fix = "run on a host booted with systemd, or choose another platform with `--platform`";
            // A problem, not a warning: `install` and every other management command of this
            // platform would fail here.
            found.push(Finding::new(
                SECTION,
                Mark::Problem,
                format!(
                    "systemd is not reachable: {}; `install` and the other management commands cannot work here",
                    missing.join(", ")
                ),
                Some(fix.to_owned()),
            ));
        }
    }
    if level == Level::User {
        found.push(linger(facts));
    }
    found
}

fn linger(facts: &Facts) -> Finding {
    match (facts.euid, &facts.user) {
        (None | Some(0), _) => Finding::new(SECTION, Mark::Ok, "running as root: linger is not needed", None),
        (Some(uid), None) => Finding::new(
            SECTION,
            Mark::Warn,
            format!("cannot tell whether linger is enabled: neither USER nor LOGNAME is set (uid {uid})"),
            Some(format!("`loginctl enable-linger {uid}` so user services start at boot and survive logout")),
        ),
        (Some(_), Some(user)) if facts.linger => Finding::new(
            SECTION,
            Mark::Ok,
            format!("linger is enabled for {user}: user services start at boot and survive logout"),
            None,
        ),
        (Some(_), Some(user)) => Finding::new(
            SECTION,
            Mark::Warn,
            format!(
                "linger is off for {user} (/var/lib/systemd/linger/{user} is absent): user services stop at logout \
                 and do not start at boot"
            ),
            Some(format!("`loginctl enable-linger {user}`, or install as root with `--system`")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reachable() -> Facts {
        Facts {
            systemctl: Some(PathBuf::from("/usr/bin/systemctl")),
            booted: true,
            euid: Some(1001),
            user: Some("alice".to_owned()),
            linger: false,
        }
    }

    #[test]
    fn a_user_without_linger_is_warned_with_the_command() {
        let found = findings(&reachable(), Level::User);
        assert_eq!(found[0].mark, Mark::Ok);
        assert_eq!(
            found[0].text,
            "systemd is reachable: /run/systemd/system exists and systemctl is /usr/bin/systemctl"
        );
        assert_eq!(found[1].mark, Mark::Warn);
        assert!(found[1].text.starts_with("linger is off for alice"), "{}", found[1].text);
        assert_eq!(found[1].fix.as_deref(), Some("`loginctl enable-linger alice`, or install as root with `--system`"));
        let lingering = findings(&Facts { linger: true, ..reachable() }, Level::User);
        assert_eq!(lingering[1].mark, Mark::Ok);
        assert_eq!(findings(&reachable(), Level::System).len(), 1, "system services need no linger");
    }

    #[test]
    fn an_unreachable_systemd_names_what_is_missing() {
        let found = findings(&Facts { booted: false, systemctl: None, ..reachable() }, Level::System);
        assert_eq!(found[0].mark, Mark::Problem, "`install` would fail: `check` must not pass");
        assert_eq!(
            found[0].text,
            "systemd is not reachable: /run/systemd/system is absent, so systemd is not the init system, systemctl is \
             not on PATH; `install` and the other management commands cannot work here"
        );
    }

    #[test]
    fn gathering_reads_the_host_under_its_root() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        std::fs::create_dir_all(root.path().join("run/systemd/system"))?;
        std::fs::create_dir_all(root.path().join("var/lib/systemd/linger"))?;
        std::fs::write(root.path().join("var/lib/systemd/linger/ana"), "")?;
        let facts = Facts::gather(&Host::under(root.path(), 1000).with_var("USER", "ana"));
        assert!(facts.booted && facts.linger && facts.systemctl.is_none());
        Ok(())
    }
}
