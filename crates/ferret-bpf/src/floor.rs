//! The benchmark floor (`bpf/floor.bpf.c`): count-only programs on the
//! hooks the sensor uses (tracepoints, and the packet and sock_ops hooks on the root cgroup), so a benchmark can tell the cost of being attached
//! at all from the cost of what ferret does there.

use std::mem::MaybeUninit;

use anyhow::{Context, Result};
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject};

use crate::skel::floor::{FloorSkel, FloorSkelBuilder};

/// The attached floor programs; dropping detaches them.
pub struct Floor {
    skel: FloorSkel<'static>,
    /// The cgroup programs' links (libbpf's auto-attach does not do cgroups).
    _cgroup_links: Vec<libbpf_rs::Link>,
}

impl std::fmt::Debug for Floor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Floor").finish_non_exhaustive()
    }
}

impl Floor {
    pub fn start() -> Result<Floor> {
        // As for the sensor: the object storage lives as long as the process.
        let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
        let open = FloorSkelBuilder::default().open(storage).context("opening the floor object")?;
        let mut skel = open.load().context("loading the floor programs")?;
        skel.attach().context("attaching the floor programs")?;
        // The packet and sock_ops hooks, where ferret attaches them: the root cgroup v2.
        let root = crate::probe::cgroup2_root().context("no cgroup v2 hierarchy for the floor's packet hooks")?;
        let dir = std::fs::File::open(&root).with_context(|| format!("opening {}", root.display()))?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&dir);
        let links = vec![
            skel.progs.floor_egress.attach_cgroup(fd).context("attaching the floor's egress hook")?,
            skel.progs.floor_ingress.attach_cgroup(fd).context("attaching the floor's ingress hook")?,
            skel.progs.floor_sockops.attach_cgroup(fd).context("attaching the floor's sock_ops hook")?,
        ];
        Ok(Floor { skel, _cgroup_links: links })
    }

    /// Program runs counted so far, over all CPUs.
    pub fn hits(&self) -> u64 {
        self.skel
            .maps
            .hits
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .ok()
            .flatten()
            .map(|v| v.iter().filter_map(|b| b.get(..8).and_then(|s| s.try_into().ok())).map(u64::from_ne_bytes).sum())
            .unwrap_or(0)
    }
}
