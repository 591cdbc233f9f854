//! User and group names for `user.name`, `group.name`...: looked up once per id through the C
//! library (so NSS sources work as they do for `id`), then cached.
//!
//! The fallback for events that do not carry `process.user_name` (recordings made before
//! it existed, offline replays): the enricher names users as the process sees them
//! (ferret_enrich::users), a container's from its own /etc/passwd.

use std::collections::HashMap;
use std::sync::Mutex;

use nix::unistd::{Gid, Group, Uid, User};

#[derive(Debug, Clone, Default)]
struct UserEntry {
    name: Option<String>,
    home: Option<String>,
    shell: Option<String>,
}

/// Cached id → name lookups. `fixed` tables make tests independent of the machine.
#[derive(Debug, Default)]
pub struct Users {
    users: Mutex<HashMap<u32, UserEntry>>,
    groups: Mutex<HashMap<u32, Option<String>>>,
    fixed: bool,
}

/// Bound on cached ids: a process switching through many uids cannot grow the cache without end.
const MAX_CACHED: usize = 65_536;

impl Users {
    /// Look names up in the system's databases.
    pub fn system() -> Self {
        Users::default()
    }

    /// Only the names given (tests, fixtures): nothing is looked up.
    pub fn fixed(users: &[(u32, &str)], groups: &[(u32, &str)]) -> Self {
        let u = users
            .iter()
            .map(|(id, n)| (*id, UserEntry { name: Some(n.to_string()), home: None, shell: None }))
            .collect();
        let g = groups.iter().map(|(id, n)| (*id, Some(n.to_string()))).collect();
        Users { users: Mutex::new(u), groups: Mutex::new(g), fixed: true }
    }

    fn user(&self, uid: u32) -> UserEntry {
        let mut cache = match self.users.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if let Some(e) = cache.get(&uid) {
            return e.clone();
        }
        if self.fixed {
            return UserEntry::default();
        }
        let e = match User::from_uid(Uid::from_raw(uid)) {
            Ok(Some(u)) => UserEntry {
                name: Some(u.name),
                home: Some(u.dir.to_string_lossy().into_owned()),
                shell: Some(u.shell.to_string_lossy().into_owned()),
            },
            _ => UserEntry::default(),
        };
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(uid, e.clone());
        e
    }

    pub fn user_name(&self, uid: u32) -> Option<String> {
        self.user(uid).name
    }

    pub fn user_home(&self, uid: u32) -> Option<String> {
        self.user(uid).home
    }

    pub fn user_shell(&self, uid: u32) -> Option<String> {
        self.user(uid).shell
    }

    pub fn group_name(&self, gid: u32) -> Option<String> {
        let mut cache = match self.groups.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if let Some(e) = cache.get(&gid) {
            return e.clone();
        }
        if self.fixed {
            return None;
        }
        let name = match Group::from_gid(Gid::from_raw(gid)) {
            Ok(Some(g)) => Some(g.name),
            _ => None,
        };
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(gid, name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_known_and_fixed_tables_do_not_look_up() {
        assert_eq!(Users::system().user_name(0).as_deref(), Some("root"));
        let f = Users::fixed(&[(1000, "alice")], &[]);
        assert_eq!(f.user_name(1000).as_deref(), Some("alice"));
        assert_eq!(f.user_name(0), None);
    }
}
