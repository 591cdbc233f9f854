//! ferret's kernel side: the C eBPF programs (built by `build.rs` from `bpf/`),
//! the loader that attaches them and drains the ring buffer, the pure decoder
//! of the records they write, and the capability probes behind `ferret doctor`.

pub mod skel {
    //! libbpf-rs skeletons generated from `bpf/*.bpf.c`.
    #![allow(
        clippy::all,
        clippy::unwrap_used,
        missing_debug_implementations,
        non_camel_case_types,
        unsafe_op_in_unsafe_fn
    )]
    pub mod process {
        include!(concat!(env!("OUT_DIR"), "/process.skel.rs"));
    }
    pub mod syscalls {
        include!(concat!(env!("OUT_DIR"), "/syscalls.skel.rs"));
    }
    pub mod net {
        include!(concat!(env!("OUT_DIR"), "/net.skel.rs"));
    }
    pub mod probe {
        include!(concat!(env!("OUT_DIR"), "/probe.skel.rs"));
    }
    pub mod floor {
        include!(concat!(env!("OUT_DIR"), "/floor.skel.rs"));
    }
}

pub mod decode;
pub mod floor;
pub mod loader;
pub mod probe;

#[cfg(test)]
mod layout;

pub use decode::{decode, DecodeError, Record};
pub use loader::{FlowOptions, KernelCounters, Sensor, SensorOptions};
