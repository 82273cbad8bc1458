//! What goes into a daemon's image, read from this host: the binary, the loader and libraries
//! it links, the configuration, the user, the environment; and the limits of this host that
//! decide the container's `--ulimit`s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::elf;
use super::image::{self, Account, Health, ImageSpec};
use super::spec::{self, HostLimits};
use crate::config::Settings;
use crate::platform::backend::{BackendError, InstallRequest};
use crate::platform::engine;
use crate::platform::host::Host;

/// An image built from this host's binary and configuration, as `install` with `request` would
/// run it.
#[derive(Debug)]
pub struct Built {
    /// The image.
    pub image: image::Image,
    /// The size of the binary in it.
    pub binary_len: usize,
    /// The configuration file it holds (or, built for a mounted configuration, that its
    /// command names), where it was read from.
    pub config_source: Option<PathBuf>,
    /// That configuration file's content.
    pub config: Option<Vec<u8>>,
}

/// Where the daemon's configuration file comes from in the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigPlace {
    /// In the image (a changed configuration is a new image).
    Image,
    /// Mounted at the same path by the engine (a swarm config object): the image holds none,
    /// and its command still names it.
    Mounted,
}

/// Builds the image of the daemon `name` for `request` (the binary, the libraries it links,
/// the configuration from `--config` or else `default_config` when that exists).
pub fn build_image(
    host: &Host,
    name: &str,
    request: &InstallRequest<'_>,
    default_config: &Path,
) -> Result<Built, BackendError> {
    build_image_for(host, name, request, default_config, ConfigPlace::Image)
}

/// [`build_image`], with the configuration file in the image or mounted there (`place`).
pub fn build_image_for(
    host: &Host,
    name: &str,
    request: &InstallRequest<'_>,
    default_config: &Path,
    place: ConfigPlace,
) -> Result<Built, BackendError> {
    let settings = request.settings;
    let parts = image_parts(host, request, default_config)?;
    let health = &settings.health_check;
    let spec = ImageSpec {
        name,
        architecture: parts.architecture,
        binary: &parts.binary,
        needs: parts.libraries,
        config: parts.config.as_deref().filter(|_| place == ConfigPlace::Image),
        account: parts.account,
        entrypoint: vec![image::binary_path(name)],
        cmd: spec::daemon_command(name, parts.config.is_some(), request.sets, &settings.args),
        env: parts.env,
        health: Some(Health {
            test: spec::health_command(name),
            interval: health.interval,
            timeout: health.timeout,
            retries: health.retries.max(1),
            start_period: Duration::ZERO,
        }),
        labels: [
            (spec::SERVICE_LABEL.to_owned(), name.to_owned()),
            ("org.opencontainers.image.title".to_owned(), name.to_owned()),
            ("org.opencontainers.image.version".to_owned(), settings.version.clone()),
        ]
        .into_iter()
        .collect(),
    };
    let image = image::build(&spec).map_err(|err| BackendError::Render(format!("cannot build the image: {err}")))?;
    Ok(Built { image, binary_len: parts.binary.len(), config_source: parts.config_source, config: parts.config })
}

/// Everything the image holds, read from `host`; `default_config` is read when no `--config`
/// is given.
fn image_parts(host: &Host, request: &InstallRequest<'_>, default_config: &Path) -> Result<Parts, BackendError> {
    let settings = request.settings;
    let source = settings.binary_path.clone().unwrap_or_else(|| request.binary.to_path_buf());
    let binary = engine::read_source(&host.path(&source))?;
    let cannot = |what: String| BackendError::Render(format!("cannot build the image of {}: {what}", source.display()));
    let elf = elf::parse(&binary).map_err(|err| cannot(err.to_string()))?;
    let read = |path: &Path| std::fs::read(host.path(path)).ok();
    let list = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(host.path(dir))
            .map(|entries| entries.flatten().map(|e| dir.join(e.file_name())).collect())
            .unwrap_or_default()
    };
    let search = elf::default_dirs(&read, &list, elf.architecture);
    let exists = |path: &Path| host.path(path).is_file();
    let needs = elf::needs(&elf, &source, &search, &exists, &read).map_err(|err| cannot(err.to_string()))?;
    let mut libraries = BTreeMap::new();
    for path in needs.keys() {
        libraries.insert(path.clone(), engine::read_source(&host.path(path))?);
    }
    let config_source = match request.config_file {
        Some(path) => Some(path.to_path_buf()),
        None => Some(default_config.to_path_buf()).filter(|path| host.path(path).is_file()),
    };
    let config = match &config_source {
        Some(path) => Some(engine::read_source(&host.path(path)).or_else(|_| engine::read_source(path))?),
        None => None,
    };
    let account = account(host, settings).map_err(cannot)?;
    // Libraries found through `/etc/ld.so.conf` are not where the image's loader looks.
    let extra = elf::unsearched_dirs(libraries.keys(), elf.architecture);
    let mut env: Vec<String> = settings.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.extend(request.overrides.iter().map(|(k, v)| format!("{k}={v}")));
    if !extra.is_empty() {
        env.push(format!("LD_LIBRARY_PATH={}", extra.join(":")));
    }
    Ok(Parts { architecture: elf.architecture, binary, libraries, config, config_source, account, env })
}

/// What the image is made of.
struct Parts {
    architecture: &'static str,
    binary: Vec<u8>,
    libraries: BTreeMap<PathBuf, Vec<u8>>,
    config: Option<Vec<u8>>,
    config_source: Option<PathBuf>,
    account: Account,
    env: Vec<String>,
}

/// The user the daemon runs as in the image: `user` (and `group`) looked up in this host's
/// `/etc/passwd` and `/etc/group`, or given as numbers; root when unset.
pub fn account(host: &Host, settings: &Settings<()>) -> Result<Account, String> {
    let Some(user) = settings.user.as_deref() else { return Ok(Account::root()) };
    let table = |file: &str| std::fs::read_to_string(host.path(Path::new(file))).unwrap_or_default();
    let passwd = table("/etc/passwd");
    let groups = table("/etc/group");
    let (uid, primary) = if let Ok(uid) = user.parse::<u32>() {
        (uid, uid)
    } else {
        let entry = passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.len() > 3 && f[0] == user);
        let entry = entry.ok_or_else(|| {
            format!(
                "user `{user}` is not in this host's /etc/passwd, so its uid is unknown; create the user or set `user` \
                 to a numeric id"
            )
        })?;
        (entry[2].parse().map_err(|_| format!("user `{user}` has no numeric uid"))?, entry[3].parse().unwrap_or(0))
    };
    let (group, gid) = match settings.group.as_deref() {
        None => {
            let name = groups
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 2 && f[2].parse::<u32>().ok() == Some(primary))
                .map_or_else(|| user.to_owned(), |f| f[0].to_owned());
            (name, primary)
        }
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => (group.to_owned(), gid),
            Err(_) => {
                let entry =
                    groups.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.len() > 2 && f[0] == group);
                let gid = entry.and_then(|f| f[2].parse().ok()).ok_or_else(|| {
                    format!(
                        "group `{group}` is not in this host's /etc/group; create it or set `group` to a numeric id"
                    )
                })?;
                (group.to_owned(), gid)
            }
        },
    };
    let clean = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let user = if clean(user) { user.to_owned() } else { format!("u{uid}") };
    let group = if clean(&group) { group } else { format!("g{gid}") };
    Ok(Account { user, uid, group, gid })
}

/// This process's hard limits, and whether it may raise them.
pub fn host_limits() -> HostLimits {
    let hard = |resource| {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes one rlimit into the struct we own and has no other effect.
        let ok = unsafe { libc::getrlimit(resource, &mut limit) } == 0;
        (ok && limit.rlim_max != libc::RLIM_INFINITY).then_some(limit.rlim_max)
    };
    // CAP_SYS_RESOURCE is capability 24.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let can_raise = crate::mlock::parse_status(&status).cap_eff;
    HostLimits {
        can_raise: can_raise.is_some_and(|caps| caps & (1 << 24) != 0),
        memlock: hard(libc::RLIMIT_MEMLOCK),
        nofile: hard(libc::RLIMIT_NOFILE).unwrap_or(1 << 20),
        nproc: hard(libc::RLIMIT_NPROC),
    }
}
