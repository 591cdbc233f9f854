//! Which container a process runs in, from its cgroup path: container
//! runtimes name the cgroup after the container id. Pure parsing of
//! attacker-influenced text (a process can create cgroups of its own when it
//! may write cgroupfs), so nothing is trusted beyond a well-formed id.
//!
//! Layouts recognised (v1 and v2, cgroupfs and systemd drivers):
//! - Docker: `/docker/<id>`, `/system.slice/docker-<id>.scope`
//! - containerd (CRI): `.../cri-containerd-<id>.scope`, `/kubepods/<qos>/pod<uid>/<id>`
//! - CRI-O: `.../crio-<id>.scope`
//! - Podman: `/libpod_parent/libpod-<id>`, `/machine.slice/libpod-<id>.scope`
//! - Kubernetes slices: `kubepods-<qos>-pod<uid>.slice/<runtime>-<id>.scope` (the pod uid is kept)
//!
//! Runtime helpers (`libpod-conmon-<id>`, `crio-conmon-<id>`) are not containers.

use serde::{Deserialize, Serialize};

/// A container as its cgroup names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRef {
    /// The full 64-hex-digit container id.
    pub id: String,
    /// "docker", "containerd", "cri-o", "podman", or "unknown" for a bare id.
    pub runtime: String,
    /// The Kubernetes pod uid, when the cgroup path carries it.
    pub pod_uid: Option<String>,
}

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The container id and runtime in one path component, if any.
fn component(c: &str) -> Option<(String, &'static str)> {
    let c = c.strip_suffix(".scope").unwrap_or(c);
    for (prefix, runtime) in
        [("docker-", "docker"), ("cri-containerd-", "containerd"), ("crio-", "cri-o"), ("libpod-", "podman")]
    {
        if let Some(rest) = c.strip_prefix(prefix) {
            return is_id(rest).then(|| (rest.to_string(), runtime));
        }
    }
    is_id(c).then(|| (c.to_string(), "unknown"))
}

/// A pod uid from `pod<uid>` or `kubepods-<qos>-pod<uid>.slice` (dashes or
/// underscores, as the two cgroup drivers write it).
fn pod_uid(c: &str) -> Option<String> {
    let c = c.strip_suffix(".slice").unwrap_or(c);
    let at = c.rfind("pod")?;
    let uid = c[at + 3..].replace('_', "-");
    let ok = uid.len() == 36 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    ok.then_some(uid)
}

/// The event's `container` object for a cgroup path, or None on the host.
pub fn container_of(cgroup: &str) -> Option<ferret_event::Container> {
    parse_cgroup(cgroup).map(|r| ferret_event::Container {
        id: r.id,
        runtime: r.runtime,
        pod_uid: r.pod_uid,
        cgroup: cgroup.to_string(),
        ..Default::default()
    })
}

/// Parses a cgroup path (absolute, or its last components).
pub fn parse_cgroup(path: &str) -> Option<ContainerRef> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    // The innermost component holding an id names the container; a parent
    // named `docker` with a bare id child is Docker's cgroupfs layout.
    let (i, (id, mut runtime)) = parts.iter().enumerate().rev().find_map(|(i, c)| component(c).map(|r| (i, r)))?;
    if runtime == "unknown" && i > 0 && parts[i - 1] == "docker" {
        runtime = "docker";
    }
    let pod_uid = parts[..i].iter().rev().find_map(|c| pod_uid(c));
    if runtime == "unknown" && pod_uid.is_some() {
        // /kubepods/<qos>/pod<uid>/<id>: the kubelet's cgroupfs layout, any CRI runtime.
        runtime = "cri";
    }
    Some(ContainerRef { id, runtime: runtime.to_string(), pod_uid })
}

/// The cgroup path of a live process, from /proc: the v2 entry when it is
/// not the root, else the memory controller's (hybrid hosts).
pub fn proc_cgroup(pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mut v2 = None;
    let mut memory = None;
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        if controllers.is_empty() {
            v2 = Some(path.to_string());
        } else if controllers.split(',').any(|c| c == "memory") {
            memory = Some(path.to_string());
        }
    }
    v2.filter(|p| p != "/").or(memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "a9b305cae5f16239f687666433ee25fff25e846bff574d4ee572e7fb61483be8";

    fn c(path: &str) -> Option<(String, String, Option<String>)> {
        parse_cgroup(path).map(|r| (r.id, r.runtime, r.pod_uid))
    }

    #[test]
    fn runtimes_and_drivers() {
        let id = ID.to_string();
        assert_eq!(c(&format!("/docker/{ID}")), Some((id.clone(), "docker".into(), None)));
        assert_eq!(c(&format!("/system.slice/docker-{ID}.scope")), Some((id.clone(), "docker".into(), None)));
        assert_eq!(c(&format!("/libpod_parent/libpod-{ID}")), Some((id.clone(), "podman".into(), None)));
        assert_eq!(c(&format!("machine.slice/libpod-{ID}.scope")), Some((id.clone(), "podman".into(), None)));
        assert_eq!(c(&format!("/system.slice/crio-{ID}.scope")), Some((id.clone(), "cri-o".into(), None)));
        let uid = "0e1f6c2a-7b4d-4c3e-9f8a-1b2c3d4e5f60";
        let slice = format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{ID}.scope",
            uid.replace('-', "_")
        );
        assert_eq!(c(&slice), Some((id.clone(), "containerd".into(), Some(uid.into()))));
        assert_eq!(
            c(&format!("/kubepods/burstable/pod{uid}/{ID}")),
            Some((id.clone(), "cri".into(), Some(uid.into())))
        );
    }

    #[test]
    fn hosts_helpers_and_lookalikes_are_not_containers() {
        assert_eq!(c("/"), None);
        assert_eq!(c("/user.slice/user-0.slice/session-1.scope"), None);
        assert_eq!(c("/process_api/2add7e5c6154d3b97bf11571cc73dc6c"), None, "32 hex digits is not a container id");
        assert_eq!(c(&format!("/libpod_parent/libpod-conmon-{ID}")), None, "conmon is the runtime's helper");
        assert_eq!(c(&format!("/docker/{}", ID.to_uppercase())), None);
        assert_eq!(c(&format!("/docker/{ID}x")), None);
        assert_eq!(c("/docker/../../etc"), None);
    }

    #[test]
    fn innermost_id_wins() {
        let other = "b".repeat(64);
        assert_eq!(c(&format!("/docker/{other}/docker/{ID}")).map(|r| r.0), Some(ID.to_string()));
    }

    #[test]
    fn own_process_cgroup_is_readable() {
        assert!(proc_cgroup(std::process::id()).is_some());
    }
}
