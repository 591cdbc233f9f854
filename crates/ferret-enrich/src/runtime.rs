//! Container metadata from the runtimes' API sockets: the Docker Engine API
//! (which Podman also serves), through `bollard`, and containerd's own API
//! (`crate::containerd`). A container is asked of the Docker API first, then of
//! containerd.
//!
//! The event pipeline never waits on the socket: a container seen for the
//! first time is looked up in the background and its events say
//! `metadata: "pending"` until the answer is in the cache; later events
//! carry the full metadata. The runtime's event stream refreshes the cache
//! when a container starts and drops it a minute after it stops. An absent, slow
//! or broken socket is logged once and leaves the metadata `unavailable`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use futures_util::StreamExt;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Runtime sockets tried, in order, when none is configured.
pub const DEFAULT_SOCKETS: &[&str] = &["/run/podman/podman.sock", "/var/run/docker.sock", "/run/docker.sock"];

/// What the runtime says about one container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerMeta {
    pub name: Option<String>,
    /// The image reference as given ("docker.io/library/nginx:1.25").
    pub image: Option<String>,
    pub image_id: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub privileged: bool,
    /// Host paths bind-mounted into the container.
    pub host_mounts: Vec<String>,
    pub network_mode: Option<String>,
    pub started_at: Option<String>,
    /// The runtime that answered, when the cgroup path could not tell ("containerd").
    pub runtime: Option<String>,
    /// The image's manifest digest from the runtime's image store, when the reference
    /// itself carries none (containerd).
    pub image_digest: Option<String>,
}

/// The state of one container's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaState {
    Known(Arc<ContainerMeta>),
    Pending,
    Unavailable(String),
}

/// How long a stopped container's metadata is kept for its trailing events.
const FORGET_AFTER: Duration = Duration::from_secs(60);

/// An unavailable answer (timeout, error, unknown id) is asked again after this.
const RETRY_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Shared {
    /// The state and when it was set.
    cache: Mutex<HashMap<String, (MetaState, std::time::Instant)>>,
}

/// Background lookups and the cache they fill.
#[derive(Debug)]
pub struct RuntimeMetadata {
    shared: Arc<Shared>,
    requests: Option<UnboundedSender<String>>,
    /// Why there is no runtime connection, when there is none.
    disabled: Option<String>,
}

/// The socket to use: the configured one, or the first of `defaults` that exists.
pub(crate) fn first_socket(configured: Option<&Path>, defaults: &[&str]) -> Option<PathBuf> {
    match configured {
        Some(p) => Some(p.to_path_buf()),
        None => defaults.iter().map(PathBuf::from).find(|p| p.exists()),
    }
}

fn meta_of(r: bollard::models::ContainerInspectResponse) -> ContainerMeta {
    let config = r.config.unwrap_or_default();
    let host = r.host_config.unwrap_or_default();
    let host_mounts = r
        .mounts
        .unwrap_or_default()
        .into_iter()
        .filter(|m| matches!(m.typ, Some(bollard::models::MountPointTypeEnum::BIND)))
        .filter_map(|m| m.source)
        .collect();
    ContainerMeta {
        name: r.name.map(|n| n.trim_start_matches('/').to_string()),
        image: config.image,
        image_id: r.image,
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        privileged: host.privileged.unwrap_or(false),
        host_mounts,
        network_mode: host.network_mode,
        started_at: r.state.and_then(|s| s.started_at),
        // The Docker API's cgroup layouts name their runtime; the image id is its config digest.
        runtime: None,
        image_digest: None,
    }
}

/// Forgets a stopped container's metadata after FORGET_AFTER: not at once, because its last
/// events (its processes' exits) are still on their way and should carry it.
fn forget_later(shared: &Arc<Shared>, id: String) {
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(FORGET_AFTER).await;
        shared.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    });
}

/// The runtime APIs a lookup may ask.
struct Backends {
    docker: Option<Docker>,
    containerd: Option<crate::containerd::Containerd>,
    /// Why a configured or found runtime API is not in use.
    off: Vec<String>,
}

impl Backends {
    /// The Docker API first, then containerd; the first that knows the container answers.
    async fn inspect(&self, id: &str, timeout: Duration) -> MetaState {
        let mut why = self.off.clone();
        if let Some(docker) = &self.docker {
            let lookup = docker.inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>);
            match tokio::time::timeout(timeout, lookup).await {
                Ok(Ok(r)) => return MetaState::Known(Arc::new(meta_of(r))),
                Ok(Err(e)) => why.push(format!("runtime: {e}")),
                Err(_) => why.push("runtime did not answer in time".to_string()),
            }
        }
        if let Some(c) = &self.containerd {
            match tokio::time::timeout(timeout, c.inspect(id)).await {
                Ok(Ok(Some(m))) => return MetaState::Known(Arc::new(m)),
                Ok(Ok(None)) => why.push("containerd: no such container in any namespace".to_string()),
                Ok(Err(e)) => why.push(format!("containerd: {e:#}")),
                Err(_) => why.push("containerd did not answer in time".to_string()),
            }
        }
        MetaState::Unavailable(why.join("; "))
    }
}

async fn serve(
    backends: Backends,
    shared: Arc<Shared>,
    tx: UnboundedSender<String>,
    mut rx: UnboundedReceiver<String>,
    timeout: Duration,
) {
    // Keep the cache current from the runtimes' own events: refetch in the
    // background on a change (what is cached stays meanwhile), forget a
    // while after it stops.
    if let Some(docker) = backends.docker.clone() {
        let (shared, tx) = (shared.clone(), tx.clone());
        tokio::spawn(async move {
            let mut stream = docker.events(None::<bollard::query_parameters::EventsOptions>);
            while let Some(Ok(ev)) = stream.next().await {
                let (Some(action), Some(id)) = (ev.action, ev.actor.and_then(|a| a.id)) else { continue };
                match action.as_str() {
                    "start" | "update" | "rename" => {
                        let _ = tx.send(id);
                    }
                    "die" | "stop" | "destroy" | "remove" => forget_later(&shared, id),
                    _ => {}
                }
            }
        });
    }
    if let Some(c) = backends.containerd.clone() {
        let (shared, tx) = (shared.clone(), tx.clone());
        tokio::spawn(async move {
            let watched = c.watch(|id| drop(tx.send(id)), |id| forget_later(&shared, id)).await;
            if let Err(e) = watched {
                eprintln!("ferret: containerd events stopped: {e:#}");
            }
        });
    }
    let mut logged = false;
    while let Some(id) = rx.recv().await {
        let state = backends.inspect(&id, timeout).await;
        if let MetaState::Unavailable(why) = &state {
            if !logged {
                eprintln!("ferret: container runtime lookup failed (logged once): {why}");
                logged = true;
            }
        }
        shared.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (state, std::time::Instant::now()));
    }
}

impl RuntimeMetadata {
    /// Connects to `socket` (or the first default one that exists) on a
    /// background thread. Never fails: without a runtime, every lookup says
    /// `Unavailable` with the reason.
    ///
    /// `socket` is the Docker-API socket and `containerd_socket` containerd's; either, when
    /// None, is the first of its defaults that exists. Both may be in use at once.
    pub fn start(socket: Option<&Path>, containerd_socket: Option<&Path>, timeout: Duration) -> RuntimeMetadata {
        let shared = Arc::new(Shared { cache: Mutex::new(HashMap::new()) });
        let docker_path = first_socket(socket, DEFAULT_SOCKETS);
        let containerd_path = first_socket(containerd_socket, crate::containerd::DEFAULT_SOCKETS);
        if docker_path.is_none() && containerd_path.is_none() {
            return RuntimeMetadata {
                shared,
                requests: None,
                disabled: Some("no container runtime socket found".into()),
            };
        }
        let mut off = Vec::new();
        let docker = match docker_path.map(|path| {
            Docker::connect_with_unix(
                &path.display().to_string(),
                timeout.as_secs().max(1),
                bollard::API_DEFAULT_VERSION,
            )
            .map_err(|e| format!("cannot use {}: {e}", path.display()))
        }) {
            Some(Err(why)) if containerd_path.is_none() => {
                eprintln!("ferret: container metadata off: {why}");
                return RuntimeMetadata { shared, requests: None, disabled: Some(why) };
            }
            Some(Err(why)) => {
                eprintln!("ferret: Docker-API metadata off: {why}");
                off.push(why);
                None
            }
            Some(Ok(d)) => Some(d),
            None => None,
        };
        let (tx, rx) = unbounded_channel();
        let worker_shared = shared.clone();
        let refresh = tx.clone();
        let spawned = std::thread::Builder::new().name("ferret-runtime".into()).spawn(move || {
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt.block_on(async move {
                    // containerd is dialled here: an absent or dead socket leaves the Docker API.
                    let mut off = off;
                    let containerd = match containerd_path {
                        Some(p) => match crate::containerd::Containerd::connect(&p, timeout).await {
                            Ok(c) => Some(c),
                            Err(e) => {
                                eprintln!("ferret: containerd metadata off: {e:#}");
                                off.push(format!("containerd: {e:#}"));
                                None
                            }
                        },
                        None => None,
                    };
                    serve(Backends { docker, containerd, off }, worker_shared, refresh, rx, timeout).await
                }),
                Err(e) => eprintln!("ferret: container metadata off: {e}"),
            }
        });
        if let Err(e) = spawned {
            return RuntimeMetadata { shared, requests: None, disabled: Some(format!("cannot start: {e}")) };
        }
        RuntimeMetadata { shared, requests: Some(tx), disabled: None }
    }

    /// A disabled instance, for replays and tests.
    pub fn disabled(why: &str) -> RuntimeMetadata {
        RuntimeMetadata {
            shared: Arc::new(Shared { cache: Mutex::new(HashMap::new()) }),
            requests: None,
            disabled: Some(why.to_string()),
        }
    }

    /// The metadata of container `id` now; starts a lookup the first time.
    pub fn get(&self, id: &str) -> MetaState {
        let Some(tx) = &self.requests else {
            return MetaState::Unavailable(self.disabled.clone().unwrap_or_default());
        };
        let mut cache = self.shared.cache.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        match cache.get(id) {
            Some((MetaState::Unavailable(_), at)) if now.duration_since(*at) >= RETRY_AFTER => {}
            Some((s, _)) => return s.clone(),
            None => {}
        }
        cache.insert(id.to_string(), (MetaState::Pending, now));
        if tx.send(id.to_string()).is_err() {
            let s = MetaState::Unavailable("runtime worker stopped".into());
            cache.insert(id.to_string(), (s.clone(), now));
            return s;
        }
        MetaState::Pending
    }
}

/// Splits an image reference into repository, tag and digest:
/// `registry:5000/team/app:1.2@sha256:ab..` gives
/// (`registry:5000/team/app`, `1.2`, `sha256:ab..`). A port in the registry
/// is not a tag: only a colon after the last `/` starts one.
pub fn split_image(reference: &str) -> (String, Option<String>, Option<String>) {
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d.to_string())),
        None => (reference, None),
    };
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    match name[last_slash..].rfind(':') {
        Some(i) => (name[..last_slash + i].to_string(), Some(name[last_slash + i + 1..].to_string()), digest),
        None => (name.to_string(), None, digest),
    }
}

/// Fills a container object from the runtime's answer.
pub fn apply(c: &mut ferret_event::Container, state: &MetaState) {
    match state {
        MetaState::Pending => c.metadata = "pending".into(),
        MetaState::Unavailable(why) => c.metadata = format!("unavailable: {why}"),
        MetaState::Known(m) => {
            c.metadata = "ok".into();
            c.name = m.name.clone();
            c.image = m.image.clone();
            if let Some(image) = &m.image {
                let (repository, tag, digest) = split_image(image);
                c.image_repository = Some(repository);
                c.image_tag = tag;
                c.image_digest = digest.or_else(|| m.image_digest.clone());
            }
            if c.runtime == "unknown" {
                if let Some(r) = &m.runtime {
                    c.runtime = r.clone();
                }
            }
            c.image_id = m.image_id.clone();
            c.privileged = Some(m.privileged);
            c.host_mounts = m.host_mounts.clone();
            c.network_mode = m.network_mode.clone();
            c.started_at = m.started_at.clone();
            let label = |k: &str| m.labels.get(k).cloned();
            c.pod_name = label("io.kubernetes.pod.name");
            c.pod_namespace = label("io.kubernetes.pod.namespace");
            c.k8s_container_name = label("io.kubernetes.container.name");
            if c.pod_uid.is_none() {
                c.pod_uid = label("io.kubernetes.pod.uid");
            }
            c.labels = m.labels.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_socket_metadata_is_unavailable_with_the_reason() {
        let r = RuntimeMetadata::start(
            Some(Path::new("/nonexistent/ferret.sock")),
            Some(Path::new("/nonexistent/containerd.sock")),
            Duration::from_secs(1),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while r.get("abc") == MetaState::Pending && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        match r.get("abc") {
            MetaState::Unavailable(why) => assert!(why.contains("ferret.sock"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    /// A socket that answers garbage: lookups end unavailable, nothing panics.
    #[test]
    fn a_runtime_answering_garbage_leaves_metadata_unavailable() {
        use std::io::{Read, Write};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("garbage.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten().take(8) {
                let mut conn = conn;
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(b"\x00\xffnot http at all\r\n\r\n\xfe");
            }
        });
        let r = RuntimeMetadata::start(Some(&path), Some(&path), Duration::from_secs(1));
        assert_eq!(r.get("abc"), MetaState::Pending);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match r.get("abc") {
                MetaState::Unavailable(_) => break,
                MetaState::Pending if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn image_references_split() {
        let s = |r: &str| split_image(r);
        assert_eq!(s("nginx"), ("nginx".into(), None, None));
        assert_eq!(s("localhost/ferret-busybox:test"), ("localhost/ferret-busybox".into(), Some("test".into()), None));
        assert_eq!(
            s("registry:5000/team/app:1.2@sha256:abcd"),
            ("registry:5000/team/app".into(), Some("1.2".into()), Some("sha256:abcd".into()))
        );
        assert_eq!(s("registry:5000/team/app"), ("registry:5000/team/app".into(), None, None));
        assert_eq!(s("app@sha256:ff"), ("app".into(), None, Some("sha256:ff".into())));
    }

    #[test]
    fn kubernetes_labels_become_pod_fields() {
        let mut labels = BTreeMap::new();
        labels.insert("io.kubernetes.pod.name".to_string(), "web-1".to_string());
        labels.insert("io.kubernetes.pod.namespace".to_string(), "shop".to_string());
        labels.insert("io.kubernetes.pod.uid".to_string(), "u-1".to_string());
        labels.insert("io.kubernetes.container.name".to_string(), "nginx".to_string());
        let meta = ContainerMeta { labels, privileged: true, ..Default::default() };
        let mut c = ferret_event::Container::default();
        apply(&mut c, &MetaState::Known(Arc::new(meta)));
        assert_eq!(c.pod_name.as_deref(), Some("web-1"));
        assert_eq!(c.pod_namespace.as_deref(), Some("shop"));
        assert_eq!(c.pod_uid.as_deref(), Some("u-1"));
        assert_eq!(c.k8s_container_name.as_deref(), Some("nginx"));
        assert_eq!(c.privileged, Some(true));
        assert_eq!(c.metadata, "ok");
    }
}
