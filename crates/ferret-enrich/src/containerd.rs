//! Container metadata from containerd's own API (gRPC on its socket, through
//! `containerd-client`): Kubernetes nodes with containerd, nerdctl, and Docker's
//! containers seen from below. Containers live in namespaces (`k8s.io`, `moby`,
//! `default`...): a lookup asks each in turn.
//!
//! containerd keeps no "inspect" view like Docker's: privilege, host mounts and the
//! network namespace are read from the container's OCI runtime spec, the image's
//! manifest digest from the image store; `started_at` is when the container was
//! created (containerd records no start time).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use containerd_client::services::v1::{
    containers_client::ContainersClient, events_client::EventsClient, images_client::ImagesClient,
    namespaces_client::NamespacesClient, GetContainerRequest, GetImageRequest, ListNamespacesRequest, SubscribeRequest,
};
use containerd_client::tonic::{transport::Channel, Code, Request};

use crate::runtime::ContainerMeta;

/// containerd sockets tried, in order, when none is configured.
pub const DEFAULT_SOCKETS: &[&str] =
    &["/run/containerd/containerd.sock", "/var/run/containerd/containerd.sock", "/run/k3s/containerd/containerd.sock"];

/// A connection to containerd.
#[derive(Debug, Clone)]
pub struct Containerd {
    channel: Channel,
}

fn in_namespace<T>(msg: T, ns: &str) -> Result<Request<T>> {
    let mut req = Request::new(msg);
    req.metadata_mut().insert("containerd-namespace", ns.parse().context("namespace name")?);
    Ok(req)
}

/// A protobuf timestamp as RFC 3339.
fn rfc3339(t: &prost_types::Timestamp) -> Option<String> {
    let ns = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
    time::OffsetDateTime::from_unix_timestamp_nanos(ns)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

impl Containerd {
    /// Connects to the socket at `path`, giving up after `timeout`.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Containerd> {
        let channel = tokio::time::timeout(timeout, containerd_client::connect(path))
            .await
            .with_context(|| format!("{} did not answer in time", path.display()))?
            .with_context(|| format!("connecting to {}", path.display()))?;
        Ok(Containerd { channel })
    }

    async fn namespaces(&self) -> Result<Vec<String>> {
        let mut client = NamespacesClient::new(self.channel.clone());
        let r = client.list(ListNamespacesRequest::default()).await.context("listing namespaces")?;
        Ok(r.into_inner().namespaces.into_iter().map(|n| n.name).collect())
    }

    /// The metadata of container `id`, from whichever namespace holds it; None if none does.
    pub async fn inspect(&self, id: &str) -> Result<Option<ContainerMeta>> {
        for ns in self.namespaces().await? {
            let mut client = ContainersClient::new(self.channel.clone());
            let got = client.get(in_namespace(GetContainerRequest { id: id.to_string() }, &ns)?).await;
            let c = match got {
                Ok(r) => match r.into_inner().container {
                    Some(c) => c,
                    None => continue,
                },
                Err(s) if s.code() == Code::NotFound => continue,
                Err(s) => return Err(anyhow::anyhow!("containerd: {}", s.message())),
            };
            let digest = if c.image.is_empty() { None } else { self.image_digest(&ns, &c.image).await };
            let spec = c.spec.as_ref().and_then(|a| serde_json::from_slice::<serde_json::Value>(&a.value).ok());
            return Ok(Some(meta_of(
                &c.labels,
                &c.image,
                digest,
                spec.as_ref(),
                c.created_at.as_ref().and_then(rfc3339),
            )));
        }
        Ok(None)
    }

    /// The digest the image store holds for an image name (its manifest or index).
    async fn image_digest(&self, ns: &str, name: &str) -> Option<String> {
        let mut client = ImagesClient::new(self.channel.clone());
        let r = client.get(in_namespace(GetImageRequest { name: name.to_string() }, ns).ok()?).await.ok()?;
        r.into_inner().image?.target.map(|d| d.digest).filter(|d| !d.is_empty())
    }

    /// Calls `changed` with the id of each container that starts or changes, and `gone` with
    /// each one deleted, until the stream ends.
    pub async fn watch(&self, mut changed: impl FnMut(String), mut gone: impl FnMut(String)) -> Result<()> {
        let mut client = EventsClient::new(self.channel.clone());
        let req = SubscribeRequest {
            filters: vec![
                r#"topic=="/tasks/start""#.into(),
                r#"topic=="/containers/update""#.into(),
                r#"topic=="/containers/delete""#.into(),
            ],
        };
        let mut stream = client.subscribe(req).await.context("subscribing to containerd events")?.into_inner();
        while let Some(env) = stream.message().await.context("containerd event stream")? {
            let Some(mut any) = env.event else { continue };
            // containerd sends type URLs without the leading slash prost expects.
            if !any.type_url.starts_with('/') {
                any.type_url.insert(0, '/');
            }
            match env.topic.as_str() {
                "/tasks/start" => {
                    if let Ok(e) = any.to_msg::<containerd_client::events::TaskStart>() {
                        changed(e.container_id);
                    }
                }
                "/containers/update" => {
                    if let Ok(e) = any.to_msg::<containerd_client::events::ContainerUpdate>() {
                        changed(e.id);
                    }
                }
                "/containers/delete" => {
                    if let Ok(e) = any.to_msg::<containerd_client::events::ContainerDelete>() {
                        gone(e.id);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The metadata ferret reports, from a container's labels, image name, image digest and OCI
/// runtime spec (JSON). Attacker-influenced (labels and spec come from whoever created the
/// container): unexpected shapes leave fields empty, never fail.
pub fn meta_of(
    labels: &std::collections::HashMap<String, String>,
    image: &str,
    digest: Option<String>,
    spec: Option<&serde_json::Value>,
    created_at: Option<String>,
) -> ContainerMeta {
    let name = ["nerdctl/name", "io.kubernetes.container.name"].iter().find_map(|k| labels.get(*k)).cloned();
    let empty = serde_json::Value::Null;
    let spec = spec.unwrap_or(&empty);
    let linux = &spec["linux"];
    // Privileged, as Docker, nerdctl and the CRI plugin make it: every capability (so
    // CAP_SYS_ADMIN) and no masked paths.
    let caps = &spec["process"]["capabilities"]["bounding"];
    let sys_admin = caps.as_array().is_some_and(|a| a.iter().any(|c| c == "CAP_SYS_ADMIN"));
    let masked = linux["maskedPaths"].as_array().is_some_and(|a| !a.is_empty());
    let privileged = spec.is_object() && sys_admin && !masked;
    let host_mounts = spec["mounts"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter(|m| {
                    m["type"] == "bind"
                        || m["options"].as_array().is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind"))
                })
                .filter_map(|m| m["source"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    // No network namespace of its own: the host's. One named by path: joined (a pod's).
    let network_mode = linux["namespaces"].as_array().map(|ns| match ns.iter().find(|n| n["type"] == "network") {
        None => "host".to_string(),
        Some(n) => match n["path"].as_str().filter(|p| !p.is_empty()) {
            Some(p) => format!("joined:{p}"),
            None => "private".to_string(),
        },
    });
    ContainerMeta {
        name,
        image: (!image.is_empty()).then(|| image.to_string()),
        image_id: None,
        image_digest: digest,
        runtime: Some("containerd".to_string()),
        labels: labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        privileged,
        host_mounts,
        network_mode,
        started_at: created_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn meta_from_a_spec() {
        let labels =
            [("nerdctl/name".to_string(), "web".to_string()), ("io.kubernetes.pod.name".into(), "p".into())].into();
        let spec = json!({
            "process": {"capabilities": {"bounding": ["CAP_CHOWN", "CAP_SYS_ADMIN"]}},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "ro"]},
                {"destination": "/etc/x", "type": "none", "source": "/etc/x", "options": ["rbind"]}
            ],
            "linux": {"maskedPaths": [], "namespaces": [{"type": "pid"}, {"type": "mount"}]}
        });
        let m = meta_of(&labels, "docker.io/library/nginx:1.25", Some("sha256:ab".into()), Some(&spec), None);
        assert_eq!(m.name.as_deref(), Some("web"));
        assert!(m.privileged);
        assert_eq!(m.host_mounts, vec!["/srv/data", "/etc/x"]);
        assert_eq!(m.network_mode.as_deref(), Some("host"));
        assert_eq!(m.image_digest.as_deref(), Some("sha256:ab"));
        assert_eq!(m.labels.get("io.kubernetes.pod.name").map(String::as_str), Some("p"));
    }

    #[test]
    fn a_default_container_is_not_privileged_and_garbage_is_harmless() {
        let spec = json!({
            "process": {"capabilities": {"bounding": ["CAP_CHOWN"]}},
            "linux": {"maskedPaths": ["/proc/kcore"], "namespaces": [{"type": "network", "path": "/var/run/netns/cni-1"}]}
        });
        let m = meta_of(&Default::default(), "", None, Some(&spec), None);
        assert!(!m.privileged);
        assert_eq!(m.image, None);
        assert_eq!(m.network_mode.as_deref(), Some("joined:/var/run/netns/cni-1"));
        for garbage in [json!(null), json!(42), json!({"mounts": "x", "linux": {"namespaces": {}}}), json!([1, 2])] {
            let m = meta_of(&Default::default(), "i", None, Some(&garbage), None);
            assert!(!m.privileged);
            assert!(m.host_mounts.is_empty());
        }
    }
}
