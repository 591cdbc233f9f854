//! Hand-written deserialization of [`Record`] and [`Event`], the hot path of `ferret replay`.
//!
//! serde's derived code for an internally tagged enum (`"kind"`) and for a `flatten` catch-all
//! (the unknown keys an event keeps for re-emission) first buffers the whole object into an
//! intermediate tree, then reads it again: decoding ran at a tenth of the speed of parsing. These
//! visitors read every key once, straight into the event. Findings and stats are rare in a stream
//! and keep the derived code. A record whose `kind` is not its first key (ferret always writes it
//! first) still decodes, through the slow path.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::{Event, Finding, Record, Stats};

const KINDS: &[&str] = &["event", "finding", "stats"];

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Record, D::Error> {
        d.deserialize_map(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a ferret record (an object with a \"kind\")")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let Some(first) = map.next_key::<String>()? else { return Err(de::Error::missing_field("kind")) };
        if first == "kind" {
            let kind: String = map.next_value()?;
            let rest = MapAccessDeserializer::new(map);
            return match kind.as_str() {
                "event" => Event::deserialize(rest).map(|e| Record::Event(Box::new(e))),
                "finding" => Finding::deserialize(rest).map(|f| Record::Finding(Box::new(f))),
                "stats" => Stats::deserialize(rest).map(|s| Record::Stats(Box::new(s))),
                other => Err(de::Error::unknown_variant(other, KINDS)),
            };
        }
        // Slow path: gather the object, then dispatch on its kind.
        let mut obj = serde_json::Map::new();
        obj.insert(first, map.next_value::<Value>()?);
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            if obj.insert(k.clone(), v).is_some() {
                return Err(de::Error::custom(format!("duplicate field `{k}`")));
            }
        }
        let kind = match obj.remove("kind") {
            Some(Value::String(k)) => k,
            Some(_) => return Err(de::Error::custom("\"kind\" is not a string")),
            None => return Err(de::Error::missing_field("kind")),
        };
        let obj = Value::Object(obj);
        match kind.as_str() {
            "event" => serde_json::from_value(obj).map(|e| Record::Event(Box::new(e))),
            "finding" => serde_json::from_value(obj).map(|f| Record::Finding(Box::new(f))),
            "stats" => serde_json::from_value(obj).map(|s| Record::Stats(Box::new(s))),
            other => return Err(de::Error::unknown_variant(other, KINDS)),
        }
        .map_err(de::Error::custom)
    }
}

/// An event's keys; anything else is kept in `extra`.
enum Field {
    Id,
    Time,
    Type,
    Ret,
    Error,
    Host,
    Process,
    Container,
    Exec,
    Child,
    Exit,
    File,
    Net,
    Syscall,
    Dns,
    Flow,
    Other(String),
}

const FIELDS: &[&str] = &[
    "id",
    "time",
    "type",
    "ret",
    "error",
    "host",
    "process",
    "container",
    "exec",
    "child",
    "exit",
    "file",
    "net",
    "syscall",
    "dns",
    "flow",
];

impl Field {
    fn of(s: &str) -> Field {
        match s {
            "id" => Field::Id,
            "time" => Field::Time,
            "type" => Field::Type,
            "ret" => Field::Ret,
            "error" => Field::Error,
            "host" => Field::Host,
            "process" => Field::Process,
            "container" => Field::Container,
            "exec" => Field::Exec,
            "child" => Field::Child,
            "exit" => Field::Exit,
            "file" => Field::File,
            "net" => Field::Net,
            "syscall" => Field::Syscall,
            "dns" => Field::Dns,
            "flow" => Field::Flow,
            other => Field::Other(other.to_string()),
        }
    }

    /// Bit of a known field, to refuse duplicates.
    fn bit(&self) -> u32 {
        let i = match self {
            Field::Id => 0,
            Field::Time => 1,
            Field::Type => 2,
            Field::Ret => 3,
            Field::Error => 4,
            Field::Host => 5,
            Field::Process => 6,
            Field::Container => 7,
            Field::Exec => 8,
            Field::Child => 9,
            Field::Exit => 10,
            Field::File => 11,
            Field::Net => 12,
            Field::Syscall => 13,
            Field::Dns => 14,
            Field::Flow => 15,
            Field::Other(_) => return 0,
        };
        1 << i
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Field, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Field, E> {
                Ok(Field::of(s))
            }
        }
        d.deserialize_identifier(V)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Event, D::Error> {
        d.deserialize_map(EventVisitor)
    }
}

struct EventVisitor;

/// Fields an event must have (the others may be absent or null).
const REQUIRED: &[(u32, &str)] =
    &[(1 << 0, "id"), (1 << 1, "time"), (1 << 2, "type"), (1 << 3, "ret"), (1 << 5, "host"), (1 << 6, "process")];

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a ferret event")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let mut ev = Event::default();
        let mut seen = 0u32;
        while let Some(field) = map.next_key::<Field>()? {
            let bit = field.bit();
            if bit != 0 {
                if seen & bit != 0 {
                    let name = FIELDS[bit.trailing_zeros() as usize];
                    return Err(de::Error::duplicate_field(name));
                }
                seen |= bit;
            }
            match field {
                Field::Id => ev.id = map.next_value()?,
                Field::Time => ev.time = map.next_value()?,
                Field::Type => ev.event_type = map.next_value()?,
                Field::Ret => ev.ret = map.next_value()?,
                Field::Error => ev.error = map.next_value()?,
                Field::Host => ev.host = map.next_value()?,
                Field::Process => ev.process = map.next_value()?,
                Field::Container => ev.container = map.next_value()?,
                Field::Exec => ev.exec = map.next_value()?,
                Field::Child => ev.child = map.next_value()?,
                Field::Exit => ev.exit = map.next_value()?,
                Field::File => ev.file = map.next_value()?,
                Field::Net => ev.net = map.next_value()?,
                Field::Syscall => ev.syscall = map.next_value()?,
                Field::Dns => ev.dns = map.next_value()?,
                Field::Flow => ev.flow = map.next_value()?,
                Field::Other(k) => {
                    if ev.extra.contains_key(&k) {
                        return Err(de::Error::custom(format!("duplicate field `{k}`")));
                    }
                    let v: Value = map.next_value()?;
                    ev.extra.insert(k, v);
                }
            }
        }
        for (bit, name) in REQUIRED {
            if seen & bit == 0 {
                return Err(de::Error::missing_field(name));
            }
        }
        Ok(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"kind":"event","id":"a","time":"t","type":"process_exec","ret":0,
        "host":{"hostname":"h","boot_id":"b","kernel":"k"},
        "process":{"pid":1,"tid":1,"ppid":0,"uid":0,"euid":0,"gid":0,"egid":0,"loginuid":4294967295,
          "comm":"init","exe":"/sbin/init","exe_sha256":null,"args":[],"cmdline":"","cwd":"/","tty":null,
          "start_time":"s","exec_id":"e","ns_pid":1,"ancestors":[]},
        "container":null}"#;

    #[test]
    fn kind_anywhere_decodes_the_same() {
        let fast: Record = serde_json::from_str(EVENT).expect("kind first");
        let moved = EVENT.replacen(r#""kind":"event","#, "", 1).replacen(
            r#""container":null}"#,
            r#""container":null,"kind":"event"}"#,
            1,
        );
        let slow: Record = serde_json::from_str(&moved).expect("kind last");
        assert_eq!(fast, slow);
    }

    #[test]
    fn bad_records_are_errors() {
        for (bad, why) in [
            (r#"{}"#, "kind"),
            (r#"{"kind":"nope"}"#, "unknown variant"),
            (r#"{"kind":3}"#, "string"),
            (r#"[1,2]"#, "ferret record"),
            (r#"{"kind":"event","id":"a"}"#, "missing field"),
            (&EVENT.replacen(r#""id":"a","#, r#""id":"a","id":"b","#, 1), "duplicate field `id`"),
            (&EVENT.replacen(r#""id":"a","#, r#""id":"a","x":1,"x":2,"#, 1), "duplicate field `x`"),
            (&EVENT.replacen(r#""ret":0"#, r#""ret":"zero""#, 1), "invalid type"),
        ] {
            let e = serde_json::from_str::<Record>(bad).expect_err(bad).to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
