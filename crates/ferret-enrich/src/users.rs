//! User and group names as the process itself sees them. A container has its own
//! /etc/passwd and /etc/group: uid 1000 is "node" in one image and "app" in another, and
//! neither need exist on the host. Host processes' names come through the C library (so NSS
//! sources work as they do for `id`).
//!
//! A container's files are attacker-controlled: they are opened through the process's root
//! (`/proc/PID/root`) with `openat2(RESOLVE_IN_ROOT)`, so a symlink planted in the image cannot
//! point the reader at a host file; only regular files are read, at most `MAX_FILE` bytes;
//! malformed lines are skipped. Names are cached per container and read again when an id is
//! missing and the copy is older than `REREAD_AFTER` (a user added at run time).

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// Bytes read of one passwd or group file.
const MAX_FILE: u64 = 4 << 20;
/// A container's files are read again for a missing id after this long.
const REREAD_AFTER: Duration = Duration::from_secs(10);
/// Containers whose names are cached at once.
const MAX_CONTAINERS: usize = 1024;
/// Host ids cached at once (a process switching through many uids cannot grow it without end).
const MAX_HOST_IDS: usize = 65_536;

/// The names of one container's users and groups.
#[derive(Debug, Default)]
struct Db {
    users: HashMap<u32, Arc<str>>,
    groups: HashMap<u32, Arc<str>>,
    read_at: Option<Instant>,
}

/// Cached uid/gid → name lookups, per container and for the host.
#[derive(Debug)]
pub struct UserNames {
    host_users: HashMap<u32, Option<Arc<str>>>,
    host_groups: HashMap<u32, Option<Arc<str>>>,
    containers: lru::LruCache<String, Db>,
    /// Where processes' roots are found (`/proc`; a test may point elsewhere).
    proc_root: std::path::PathBuf,
}

impl Default for UserNames {
    fn default() -> Self {
        UserNames::new("/proc")
    }
}

impl UserNames {
    pub fn new(proc_root: impl Into<std::path::PathBuf>) -> Self {
        UserNames {
            host_users: HashMap::new(),
            host_groups: HashMap::new(),
            containers: lru::LruCache::new(std::num::NonZeroUsize::new(MAX_CONTAINERS).expect("non-zero")),
            proc_root: proc_root.into(),
        }
    }

    /// The names of `uid` and `gid` in `container` (None: the host). `pids` are live
    /// processes of that container to read its files through, best first (the acting process
    /// may be gone by the time its event is enriched; its parent in the container often is not).
    pub fn names(
        &mut self,
        container: Option<&str>,
        pids: &[u32],
        uid: u32,
        gid: u32,
    ) -> (Option<String>, Option<String>) {
        match container {
            None => (self.host_user(uid), self.host_group(gid)),
            Some(id) => {
                let names =
                    |db: &Db| (db.users.get(&uid).map(|n| n.to_string()), db.groups.get(&gid).map(|n| n.to_string()));
                if let Some(db) = self.containers.get(id) {
                    let found = names(db);
                    let complete = found.0.is_some() && found.1.is_some();
                    if complete || db.read_at.is_some_and(|t| t.elapsed() < REREAD_AFTER) {
                        return found;
                    }
                }
                let fresh = pids.iter().find_map(|pid| read_db(&self.proc_root.join(pid.to_string()).join("root")));
                // When every process named is gone, what was read before (if anything) stays,
                // and the container's next event tries again.
                if let Some(db) = fresh {
                    self.containers.put(id.to_string(), db);
                }
                self.containers.get(id).map(names).unwrap_or((None, None))
            }
        }
    }

    fn host_user(&mut self, uid: u32) -> Option<String> {
        cached(&mut self.host_users, uid, |id| {
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(id)).ok().flatten().map(|u| u.name)
        })
    }

    fn host_group(&mut self, gid: u32) -> Option<String> {
        cached(&mut self.host_groups, gid, |id| {
            nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(id)).ok().flatten().map(|g| g.name)
        })
    }
}

/// A host id's name from `cache`, or from `lookup` (then cached, the cache bounded).
fn cached(
    cache: &mut HashMap<u32, Option<Arc<str>>>,
    id: u32,
    lookup: impl FnOnce(u32) -> Option<String>,
) -> Option<String> {
    if let Some(n) = cache.get(&id) {
        return n.as_deref().map(str::to_string);
    }
    let n: Option<Arc<str>> = lookup(id).map(Arc::from);
    if cache.len() >= MAX_HOST_IDS {
        cache.clear();
    }
    cache.insert(id, n.clone());
    n.as_deref().map(str::to_string)
}

/// Reads etc/passwd and etc/group under `root`; None when the root cannot be opened, or is
/// ferret's own: a process the cgroup already places in a container may not have entered
/// its root yet (the runtime's `runc init` before pivot_root), and the host's names are not
/// the container's.
fn read_db(root: &std::path::Path) -> Option<Db> {
    let dir = nix::fcntl::open(root, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).ok()?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    let dir = unsafe { OwnedFd::from_raw_fd(dir) };
    let theirs = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(&dir)).ok()?;
    let ours = nix::sys::stat::stat("/").ok()?;
    if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino) {
        return None;
    }
    let users = read_confined(&dir, "etc/passwd").map(|t| parse(&t)).unwrap_or_default();
    let groups = read_confined(&dir, "etc/group").map(|t| parse(&t)).unwrap_or_default();
    Some(Db { users, groups, read_at: Some(Instant::now()) })
}

/// A regular file under `dir`, resolved as if `dir` were `/` (symlinks and `..` cannot leave it).
fn read_confined(dir: &OwnedFd, path: &str) -> Option<String> {
    use std::os::fd::AsRawFd;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = nix::fcntl::openat2(dir.as_raw_fd(), path, how).ok()?;
    // SAFETY: openat2 returned a new descriptor that nothing else owns.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    if !file.metadata().ok()?.is_file() {
        return None; // a FIFO or device planted there would block or never end
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// `name:x:id:...` lines (passwd and group share the first and third fields). Comments, blank
/// and malformed lines are skipped; the first entry of an id wins, as getpwuid does.
fn parse(text: &str) -> HashMap<u32, Arc<str>> {
    let mut out = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut f = line.split(':');
        let (Some(name), Some(_), Some(id)) = (f.next(), f.next(), f.next()) else { continue };
        let Ok(id) = id.trim().parse::<u32>() else { continue };
        if name.is_empty() || name.starts_with('+') || name.starts_with('-') {
            continue; // NIS compat entries name no user
        }
        out.entry(id).or_insert_with(|| Arc::from(name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_skips_garbage() {
        let m = parse("root:x:0:0:root:/root:/bin/sh\n# comment\n\nbad line\nweb:x:abc:1::/:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\ndup:x:1000:1::/:/bin/sh\n+nis:x:5:5::/:\n\u{1b}[31mevil:x:7:7::/:\n");
        assert_eq!(m.get(&0).map(|s| &**s), Some("root"));
        assert_eq!(m.get(&1000).map(|s| &**s), Some("app"), "the first entry of an id wins");
        assert!(!m.contains_key(&5));
        assert_eq!(m.get(&7).map(|s| &**s), Some("\u{1b}[31mevil"), "kept as is: JSON output escapes it");
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn a_container_root_is_read_confined() {
        let proc = tempfile::tempdir().expect("tempdir");
        let root = proc.path().join("42").join("root");
        std::fs::create_dir_all(root.join("etc")).expect("etc");
        std::fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n")
            .expect("passwd");
        // A group file pointing at the host's: inside the root it names nothing.
        std::os::unix::fs::symlink("/etc/group", root.join("etc/group")).expect("symlink");
        let mut names = UserNames::new(proc.path());
        // The acting process (41) is gone: its parent in the container (42) is read instead.
        assert_eq!(names.names(Some("c1"), &[41, 42], 1000, 0), (Some("app".to_string()), None));
        assert_eq!(names.names(Some("c1"), &[42], 0, 0).0.as_deref(), Some("root"));
        // An id the container does not know has no name, even if the host knows it.
        assert_eq!(names.names(Some("c1"), &[42], 1, 0).0, None);
        // A vanished process keeps the names read before.
        std::fs::remove_dir_all(proc.path().join("42")).expect("rm");
        assert_eq!(names.names(Some("c1"), &[42], 1000, 0).0.as_deref(), Some("app"));
        // A container none of whose processes can be read names nothing, and is asked again.
        assert_eq!(names.names(Some("c2"), &[43], 1000, 0), (None, None));
        assert!(names.containers.get("c2").is_none());
    }

    #[test]
    fn a_process_still_in_the_host_root_is_not_read() {
        // /proc/self/root is ferret's own root: what it names is the host's, not a container's.
        let mut names = UserNames::default();
        assert_eq!(names.names(Some("c"), &[std::process::id()], 0, 0), (None, None));
    }

    #[test]
    fn a_fifo_is_not_read() {
        let proc = tempfile::tempdir().expect("tempdir");
        let root = proc.path().join("7").join("root");
        std::fs::create_dir_all(root.join("etc")).expect("etc");
        nix::unistd::mkfifo(&root.join("etc/passwd"), Mode::from_bits_truncate(0o600)).expect("fifo");
        let mut names = UserNames::new(proc.path());
        assert_eq!(names.names(Some("c"), &[7], 0, 0), (None, None));
    }

    #[test]
    fn host_names_come_from_the_system() {
        let mut names = UserNames::default();
        assert_eq!(names.names(None, &[], 0, 0).0.as_deref(), Some("root"));
    }
}
