//! DNS messages captured in the kernel, parsed with hickory-proto. Hostile
//! input: a message that does not parse still yields an event, flagged
//! `malformed`, with the header fields that could be read.

use ferret_bpf::decode::Dns;
use ferret_event::{DnsAnswer, DnsInfo, DnsQuestion, Endpoint, NetInfo};
use hickory_proto::op::Message;

use crate::syscall::{family, ip};

fn rcode_name(code: u16) -> String {
    match code {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return format!("RCODE{code}"),
    }
    .to_string()
}

fn text(s: String) -> String {
    ferret_event::text::escape_bytes(s.as_bytes()).0
}

/// Parses a DNS message; never fails (see `malformed`).
pub fn parse(payload: &[u8], wire_len: u32) -> DnsInfo {
    let mut info = DnsInfo { size: wire_len, ..Default::default() };
    // The fixed 12-byte header can be read from anything that long.
    if payload.len() >= 12 {
        info.id = u16::from_be_bytes([payload[0], payload[1]]);
        let flags = u16::from_be_bytes([payload[2], payload[3]]);
        info.truncated = flags & 0x0200 != 0;
        if flags & 0x8000 != 0 {
            info.rcode = Some(rcode_name(flags & 0x000f));
        }
    }
    match Message::from_vec(payload) {
        Ok(m) => {
            info.id = m.id();
            info.truncated = m.truncated();
            if m.message_type() == hickory_proto::op::MessageType::Response {
                info.rcode = Some(rcode_name(u16::from(m.response_code())));
            }
            info.questions = m
                .queries()
                .iter()
                .map(|q| DnsQuestion { name: text(q.name().to_string()), qtype: q.query_type().to_string() })
                .collect();
            info.answers = m
                .answers()
                .iter()
                .map(|r| DnsAnswer {
                    name: text(r.name().to_string()),
                    rtype: r.record_type().to_string(),
                    ttl: r.ttl(),
                    data: text(r.data().to_string()),
                })
                .collect();
        }
        Err(e) => {
            info.malformed =
                Some(if payload.len() < 12 { "shorter than a DNS header".to_string() } else { e.to_string() });
        }
    }
    if info.malformed.is_none() && (wire_len as usize) > payload.len() {
        info.malformed = Some(format!("captured {} of {} bytes", payload.len(), wire_len));
    }
    info
}

/// IP to the names that resolved to it, per container ("" for the host),
/// from DNS responses; bounded (LRU) so a flood of answers cannot grow it.
#[derive(Debug)]
pub struct ResolverCache {
    entries: lru::LruCache<(String, String), Vec<String>>,
}

/// Names kept per address.
const NAMES_PER_IP: usize = 8;

impl ResolverCache {
    pub fn new(capacity: usize) -> ResolverCache {
        let cap = std::num::NonZeroUsize::new(capacity.max(1)).expect("non-zero");
        ResolverCache { entries: lru::LruCache::new(cap) }
    }

    /// Records the A/AAAA answers of a response, under the question's name
    /// (the name the program asked for, not a CNAME target).
    pub fn learn(&mut self, scope: &str, info: &DnsInfo) {
        let asked = info.questions.first().map(|q| q.name.trim_end_matches('.').to_string());
        for a in info.answers.iter().filter(|a| a.rtype == "A" || a.rtype == "AAAA") {
            let name = asked.clone().unwrap_or_else(|| a.name.trim_end_matches('.').to_string());
            let names = self.entries.get_or_insert_mut((scope.to_string(), a.data.clone()), Vec::new);
            if !names.contains(&name) {
                if names.len() == NAMES_PER_IP {
                    names.remove(0);
                }
                names.push(name);
            }
        }
    }

    /// The names known for an address in a scope.
    pub fn names(&mut self, scope: &str, ip: &str) -> Vec<String> {
        self.entries.get(&(scope.to_string(), ip.to_string())).cloned().unwrap_or_default()
    }
}

/// The `net` object: local is the host's socket, remote the DNS server.
pub fn net(d: &Dns) -> NetInfo {
    let src = Endpoint { ip: ip(d.family, &d.saddr), port: Some(d.sport), ..Default::default() };
    let dst = Endpoint { ip: ip(d.family, &d.daddr), port: Some(d.dport), ..Default::default() };
    let (local, remote) = if d.egress { (src, dst) } else { (dst, src) };
    NetInfo {
        family: family(d.family),
        sock_type: if d.tcp { "SOCK_STREAM" } else { "SOCK_DGRAM" }.into(),
        protocol: if d.tcp { "tcp" } else { "udp" }.into(),
        local: Some(local),
        remote: Some(remote),
        address_source: "kernel".into(),
        in_progress: false,
        cookie: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, Query};
    use hickory_proto::rr::{Name, RData, Record, RecordType};
    use std::net::Ipv4Addr;
    use std::str::FromStr;

    fn response() -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(0x1234).set_message_type(MessageType::Response);
        let name = Name::from_str("ferret.test.").expect("name");
        m.add_query(Query::query(name.clone(), RecordType::A));
        m.add_answer(Record::from_rdata(name, 60, RData::A(Ipv4Addr::new(10, 9, 8, 7).into())));
        m.to_vec().expect("encode")
    }

    #[test]
    fn a_response_is_parsed() {
        let bytes = response();
        let d = parse(&bytes, bytes.len() as u32);
        assert_eq!(d.id, 0x1234);
        assert_eq!(d.rcode.as_deref(), Some("NOERROR"));
        assert_eq!(d.questions[0].name, "ferret.test.");
        assert_eq!(d.questions[0].qtype, "A");
        assert_eq!((d.answers[0].rtype.as_str(), d.answers[0].data.as_str(), d.answers[0].ttl), ("A", "10.9.8.7", 60));
        assert_eq!(d.malformed, None);
    }

    /// The fuzz target's property on stable Rust.
    #[test]
    fn mutated_messages_never_panic() {
        let seed = response();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut b = seed.clone();
            for _ in 0..(next() % 6 + 1) {
                let at = (next() as usize) % b.len().max(1);
                match next() % 3 {
                    0 if !b.is_empty() => b[at] = next() as u8,
                    0 | 1 => b.truncate(at),
                    _ => b.extend(std::iter::repeat_n(next() as u8, (next() % 40) as usize)),
                }
            }
            let d = parse(&b, b.len() as u32);
            assert!(d.questions.len() <= b.len() && d.answers.len() <= b.len());
        }
    }

    #[test]
    fn the_resolver_cache_names_addresses_per_scope() {
        let bytes = response();
        let info = parse(&bytes, bytes.len() as u32);
        let mut c = ResolverCache::new(4);
        c.learn("", &info);
        assert_eq!(c.names("", "10.9.8.7"), vec!["ferret.test".to_string()]);
        assert!(c.names("some-container", "10.9.8.7").is_empty(), "scopes are separate");
        for i in 0..10 {
            let mut other = info.clone();
            other.answers[0].data = format!("10.0.0.{i}");
            c.learn("", &other);
        }
        assert!(c.names("", "10.9.8.7").is_empty(), "bounded: the oldest went");
    }

    #[test]
    fn hostile_messages_are_flagged_not_fatal() {
        // A compression pointer to itself, bogus counts, truncation, garbage.
        let mut looped = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        let mut counts = response();
        counts[7] = 0xff; // 255 answers claimed
        let bytes = response();
        let cut = &bytes[..bytes.len() - 3];
        let mut long_label = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64];
        long_label.extend(std::iter::repeat_n(b'a', 64));
        for msg in [&looped[..], &counts[..], cut, &[1, 2, 3][..], &long_label[..], &[][..]] {
            let d = parse(msg, msg.len() as u32);
            assert!(d.malformed.is_some(), "{msg:?}");
        }
        let d = parse(&looped, looped.len() as u32);
        assert_eq!(d.id, 0x1234, "the header is still read");
        assert_eq!(d.rcode.as_deref(), Some("NOERROR"));
        // Captured short of the wire length: flagged even when it parses.
        let full = response();
        assert!(parse(&full, 900).malformed.is_some_and(|m| m.contains("captured")));
    }
}
