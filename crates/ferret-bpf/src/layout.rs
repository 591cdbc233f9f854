//! Checks that the Rust view of every kernel/user shared struct has the
//! size and member offsets that the compiled eBPF object's BTF records: the
//! kernel writes by the C layout, the decoder reads by the Rust one.

use std::mem::{offset_of, size_of};

use libbpf_rs::btf::types::{MemberAttr, Struct};
use libbpf_rs::btf::Btf;
use libbpf_rs::btf::HasSize;

use crate::skel::process::types;

fn object(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/{name}.bpf.o", env!("OUT_DIR"))).expect("object built by build.rs")
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
        assert_eq!(bname, rname.trim_start_matches("r#"), "member order of struct {name}");
        assert_eq!(*boff as usize, roff * 8, "offset of {name}.{rname}");
    }
}

macro_rules! offsets {
    ($t:ty; $($f:ident),* $(,)?) => { &[$((stringify!($f), offset_of!($t, $f))),*] };
}

#[test]
fn shared_structs_match_the_compiled_object() {
    let obj = object("process");
    let btf = Btf::from_raw("process", &obj).expect("parse BTF").expect("object has BTF");
    check(
        &btf,
        "task_ctx",
        size_of::<types::task_ctx>(),
        offsets!(types::task_ctx;
        start_boottime, parent_start_boottime, cgroup_id, cap_effective, cap_permitted, pid, tid, ppid, ns_pid, uid, euid, gid, egid,
        loginuid, sessionid, comm),
    );
    check(
        &btf,
        "event_header",
        size_of::<types::event_header>(),
        offsets!(types::event_header;
        ktime_boot_ns, kind, size, task),
    );
    check(
        &btf,
        "exec_event",
        size_of::<types::exec_event>(),
        offsets!(types::exec_event;
        hdr, ret, flags, exe_ino, exe_size, exe_mtime_sec, exe_mtime_nsec, exe_dev, exe_nlink, exe_mode, argc,
        old_pid, exe_len, cwd_len, filename_len, interp_len, tty_len, args_len, cgroup_len, _pad, data),
    );
    check(
        &btf,
        "fork_event",
        size_of::<types::fork_event>(),
        offsets!(types::fork_event;
        hdr, child_start_boottime, child_pid, child_tid, flags, _pad),
    );
    check(
        &btf,
        "exit_event",
        size_of::<types::exit_event>(),
        offsets!(types::exit_event;
        hdr, exit_code, _pad),
    );
}

#[test]
fn syscall_structs_match_the_compiled_object() {
    use crate::skel::syscalls::types as st;
    let obj = object("syscalls");
    let btf = Btf::from_raw("syscalls", &obj).expect("parse BTF").expect("object has BTF");
    check(
        &btf,
        "file_info",
        size_of::<st::file_info>(),
        offsets!(st::file_info; ino, size, dev, mode, nlink, uid, fs_magic),
    );
    check(
        &btf,
        "sock_info",
        size_of::<st::sock_info>(),
        offsets!(st::sock_info;
        family, r#type, protocol, state, lport, rport, _pad, laddr, raddr, cookie),
    );
    check(
        &btf,
        "syscall_event",
        size_of::<st::syscall_event>(),
        offsets!(st::syscall_event;
        hdr, ret, args, sc, flags, file, sock, path_len, path2_len, dir_len, aux_len, repeats, data),
    );
    // The header is the same struct in both objects.
    assert_eq!(size_of::<st::event_header>(), size_of::<types::event_header>());
}

#[test]
fn net_structs_match_the_compiled_object() {
    use crate::skel::net::types as nt;
    let obj = object("net");
    let btf = Btf::from_raw("net", &obj).expect("parse BTF").expect("object has BTF");
    check(
        &btf,
        "dns_event",
        size_of::<nt::dns_event>(),
        offsets!(nt::dns_event;
        hdr, cookie, saddr, daddr, sport, dport, family, egress, owner_known, tcp, _pad, wire_len, cap_len, data),
    );
    check(&btf, "flow_event", size_of::<nt::flow_event>(), offsets!(nt::flow_event; hdr, f));
    check(
        &btf,
        "flow_body",
        size_of::<nt::flow_body>(),
        offsets!(nt::flow_body;
        cookie, start_ns, bytes_in, bytes_out, packets_in, packets_out, laddr, raddr, lport, rport, family,
        protocol, _pad, flags, _pad2),
    );
    check(
        &btf,
        "flow_batch_header",
        size_of::<nt::flow_batch_header>(),
        offsets!(nt::flow_batch_header; _zero, kind, size, count, owners),
    );
    check(
        &btf,
        "flow_batch_rec",
        size_of::<nt::flow_batch_rec>(),
        offsets!(nt::flow_batch_rec; ktime_boot_ns, owner, _pad, f),
    );
    check(
        &btf,
        "udp_flow_key",
        size_of::<nt::udp_flow_key>(),
        offsets!(nt::udp_flow_key; cookie, raddr, rport, family, _pad),
    );
    check(
        &btf,
        "udp_flow",
        size_of::<nt::udp_flow>(),
        offsets!(nt::udp_flow;
        owner, first_ns, last_ns, bytes_in, bytes_out, packets_in, packets_out, laddr, lport, owner_known, inbound, _pad),
    );
}
