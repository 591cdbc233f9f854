//! Flow records: the socket and traffic of one TCP connection or UDP conversation.

use ferret_bpf::decode::{flow_flags, Flow};
use ferret_event::{Endpoint, FlowInfo, NetInfo};

use crate::host::Clock;
use crate::syscall::{family, ip};

/// The flow's two ends, as the kernel's socket has them.
pub fn net(f: &Flow) -> NetInfo {
    let tcp = f.protocol == 6;
    NetInfo {
        family: family(f.family),
        sock_type: if tcp { "SOCK_STREAM" } else { "SOCK_DGRAM" }.into(),
        protocol: if tcp {
            "tcp".into()
        } else if f.protocol == 17 {
            "udp".into()
        } else {
            f.protocol.to_string()
        },
        local: Some(Endpoint { ip: ip(f.family, &f.laddr), port: Some(f.lport), ..Default::default() }),
        remote: Some(Endpoint { ip: ip(f.family, &f.raddr), port: Some(f.rport), ..Default::default() }),
        address_source: "kernel".into(),
        in_progress: false,
        cookie: Some(f.cookie).filter(|c| *c != 0),
    }
}

/// Direction, state, totals and times; `owner` says where the process came from.
pub fn info(f: &Flow, owner: &str, clock: &Clock) -> FlowInfo {
    let state = if f.has(flow_flags::INTERIM) {
        "open"
    } else if f.has(flow_flags::IDLE) {
        "idle"
    } else if f.has(flow_flags::NOT_ESTABLISHED) {
        "failed"
    } else {
        "closed"
    };
    let end = f.header.ktime_boot_ns;
    FlowInfo {
        direction: if f.has(flow_flags::INBOUND) { "inbound" } else { "outbound" }.into(),
        state: state.into(),
        bytes_in: f.bytes_in,
        bytes_out: f.bytes_out,
        packets_in: f.packets_in,
        packets_out: f.packets_out,
        start: clock.rfc3339(f.start_ns.min(end)),
        start_known: !f.has(flow_flags::START_UNKNOWN),
        duration_ms: end.saturating_sub(f.start_ns) / 1_000_000,
        owner: owner.into(),
        cookie: f.cookie,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_directions() {
        let clock = Clock::now();
        let mut f = Flow {
            family: libc::AF_INET as u16,
            protocol: 6,
            laddr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            raddr: [10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            lport: 40000,
            rport: 443,
            start_ns: 1_000_000_000,
            bytes_out: 10,
            ..Default::default()
        };
        f.header.ktime_boot_ns = 3_500_000_000;
        let i = info(&f, "kernel", &clock);
        assert_eq!((i.state.as_str(), i.direction.as_str(), i.duration_ms), ("closed", "outbound", 2500));
        let n = net(&f);
        assert_eq!(n.remote.as_ref().and_then(|r| r.ip.clone()).as_deref(), Some("10.1.2.3"));
        assert_eq!((n.protocol.as_str(), n.sock_type.as_str()), ("tcp", "SOCK_STREAM"));
        f.flags = flow_flags::INBOUND | flow_flags::INTERIM;
        assert_eq!(info(&f, "accept", &clock).state, "open");
        f.flags = flow_flags::NOT_ESTABLISHED;
        assert_eq!(info(&f, "kernel", &clock).state, "failed");
        f.flags = flow_flags::IDLE;
        f.protocol = 17;
        assert_eq!(info(&f, "kernel", &clock).state, "idle");
        assert_eq!(net(&f).protocol, "udp");
        // A start after the end (clock skew in a hand-made record) is not a panic.
        f.start_ns = 9_000_000_000;
        assert_eq!(info(&f, "kernel", &clock).duration_ms, 0);
    }
}
