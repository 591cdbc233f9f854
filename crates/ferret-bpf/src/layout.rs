//! Checks that the Rust view of every kernel/user shared struct has the
//! size and member offsets that the compiled eBPF object's BTF records: the
//! kernel writes by the C layout, the decoder reads by the Rust one.

use std::mem::{offset_of, size_of};

use libbpf_rs::btf::types::{MemberAttr, Struct};
use libbpf_rs::btf::Btf;
use libbpf_rs::btf::HasSize;

use crate::skel::process::types;

fn object() -> Vec<u8> {
    std::fs::read(concat!(env!("OUT_DIR"), "/process.bpf.o")).expect("process.bpf.o built by build.rs")
}

fn check(btf: &Btf<'_>, name: &str, rust_size: usize, rust_offsets: &[(&str, usize)]) {
    let s: Struct<'_> = btf.type_by_name(name).unwrap_or_else(|| panic!("struct {name} not in BTF"));
    assert_eq!(s.size(), rust_size, "size of struct {name}");
    let members: Vec<(String, u32)> = s
        .iter()
        .map(|m| {
            let off = match m.attr {
                MemberAttr::Normal { offset } => offset,
                MemberAttr::BitField { offset, .. } => offset,
            };
            (m.name.map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), off)
        })
        .collect();
    assert_eq!(members.len(), rust_offsets.len(), "member count of struct {name}: {members:?}");
    for ((bname, boff), (rname, roff)) in members.iter().zip(rust_offsets) {
        assert_eq!(bname, rname, "member order of struct {name}");
        assert_eq!(*boff as usize, roff * 8, "offset of {name}.{rname}");
    }
}

macro_rules! offsets {
    ($t:ty; $($f:ident),* $(,)?) => { &[$((stringify!($f), offset_of!($t, $f))),*] };
}

#[test]
fn shared_structs_match_the_compiled_object() {
    let obj = object();
    let btf = Btf::from_raw("process", &obj).expect("parse BTF").expect("object has BTF");
    check(&btf, "task_ctx", size_of::<types::task_ctx>(), offsets!(types::task_ctx;
        start_boottime, parent_start_boottime, cgroup_id, pid, tid, ppid, ns_pid, uid, euid, gid, egid,
        loginuid, sessionid, comm));
    check(&btf, "event_header", size_of::<types::event_header>(), offsets!(types::event_header;
        ktime_boot_ns, kind, size, task));
    check(&btf, "exec_event", size_of::<types::exec_event>(), offsets!(types::exec_event;
        hdr, ret, flags, exe_ino, exe_size, exe_mtime_sec, exe_mtime_nsec, exe_dev, exe_nlink, exe_mode, argc,
        old_pid, exe_len, cwd_len, filename_len, interp_len, tty_len, args_len, _pad, data));
    check(&btf, "fork_event", size_of::<types::fork_event>(), offsets!(types::fork_event;
        hdr, child_start_boottime, child_pid, child_tid, flags, _pad));
    check(&btf, "exit_event", size_of::<types::exit_event>(), offsets!(types::exit_event;
        hdr, exit_code, _pad));
}
