//! Rule fields: Falco's names (and a few of ferret's own) mapped onto ferret's events.
//!
//! Each field has a type, which decides how a rule's constant is parsed (a number, a boolean, an
//! address or network) and how it compares. Extraction borrows from the event where it can;
//! strings that must be built (command lines, `fd.name` of a socket) are built once per event and
//! kept in the evaluation context. A field that does not apply to the event (no parent, no file)
//! extracts to nothing, and every comparison on it is false, as in Falco.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::net::IpAddr;

use ferret_event::{Endpoint, Event};

use crate::users::Users;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    Str,
    Int,
    Bool,
    /// An address: compares equal to an address.
    Ip,
    /// An address compared with networks (`fd.net = 10.0.0.0/8`).
    Net,
}

/// Fields ferret knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Id {
    EvtType,
    EvtNum,
    EvtRes,
    EvtRawRes,
    EvtFailed,
    EvtDir,
    EvtHostname,
    EvtTime,
    EvtSource,
    EvtCategory,
    EvtIsOpenRead,
    EvtIsOpenWrite,
    EvtIsOpenExec,
    EvtIsOpenCreate,
    EvtArg,
    EvtArgs,
    EvtBuffer,
    FerretType,
    FileCreated,
    ExecEmptyPath,
    ExecSetuid,
    FileUpperLayer,
    ProcName,
    ProcExe,
    ProcExePath,
    ProcArgs,
    ProcCmdline,
    ProcArgv,
    ProcPid,
    ProcPpid,
    ProcVpid,
    ProcTty,
    ProcCwd,
    ProcCwdRaw,
    ProcSha256,
    ProcDuration,
    ProcUpperLayer,
    ProcMemfd,
    ProcExeDeleted,
    ProcExeIno,
    ProcExeInoMtime,
    ProcContainerInit,
    ProcPname,
    ProcPexe,
    ProcPexePath,
    ProcPcmdline,
    ProcPargv,
    ProcAname,
    ProcAexe,
    ProcAexePath,
    ProcApid,
    ProcAcmdline,
    ThreadTid,
    ThreadCapEffective,
    ThreadCapPermitted,
    ThreadVtid,
    UserUid,
    UserRuid,
    UserName,
    UserLoginUid,
    UserLoginName,
    UserHomedir,
    UserShell,
    GroupGid,
    GroupName,
    FdNum,
    FdName,
    FdNameRaw,
    FdDirectory,
    FdFilename,
    FdTarget,
    FdTypeChar,
    FdType,
    FdL4Proto,
    FdSockFamily,
    FdIp,
    FdSip,
    FdCip,
    FdLip,
    FdRip,
    FdPort,
    FdSport,
    FdCport,
    FdLport,
    FdRport,
    FdNet,
    FdSnet,
    FdCnet,
    FdLnet,
    FdRnet,
    FdSipName,
    FdCipName,
    FdLipName,
    FdRipName,
    FdConnected,
    FdNameChanged,
    FdInitiated,
    ContainerId,
    ContainerFullId,
    ContainerName,
    ContainerImage,
    ContainerImageRepo,
    ContainerImageTag,
    ContainerImageDigest,
    ContainerImageId,
    ContainerPrivileged,
    ContainerMounts,
    ContainerMountSource,
    ContainerStartTs,
    ContainerType,
    ContainerLabel,
    K8sNsName,
    K8sPodName,
    K8sPodUid,
    K8sPodLabel,
    K8sContainerName,
    DnsName,
    DnsType,
    DnsRcode,
    DnsAnswers,
    /// Known to Falco but not captured by ferret (yet): extracts to nothing.
    Unavailable,
}

/// What goes in a field's brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArgKind {
    None,
    /// An ancestor level (`proc.aname[2]`); optional: without it, any ancestor.
    Level,
    /// A name (`evt.arg[flags]`, `k8s.pod.label[app]`); required.
    Key,
}

struct Def {
    name: &'static str,
    id: Id,
    ty: Type,
    arg: ArgKind,
}

const fn d(name: &'static str, id: Id, ty: Type) -> Def {
    Def { name, id, ty, arg: ArgKind::None }
}
const fn lv(name: &'static str, id: Id, ty: Type) -> Def {
    Def { name, id, ty, arg: ArgKind::Level }
}
const fn key(name: &'static str, id: Id, ty: Type) -> Def {
    Def { name, id, ty, arg: ArgKind::Key }
}

use Type::*;

static DEFS: &[Def] = &[
    d("evt.type", Id::EvtType, Str),
    d("evt.num", Id::EvtNum, Int),
    d("evt.res", Id::EvtRes, Str),
    d("evt.rawres", Id::EvtRawRes, Int),
    d("evt.failed", Id::EvtFailed, Bool),
    d("evt.dir", Id::EvtDir, Str),
    d("evt.hostname", Id::EvtHostname, Str),
    d("evt.time", Id::EvtTime, Str),
    d("evt.time.iso8601", Id::EvtTime, Str),
    d("evt.source", Id::EvtSource, Str),
    d("evt.category", Id::EvtCategory, Str),
    d("evt.is_open_read", Id::EvtIsOpenRead, Bool),
    d("evt.is_open_write", Id::EvtIsOpenWrite, Bool),
    d("evt.is_open_exec", Id::EvtIsOpenExec, Bool),
    d("evt.is_open_create", Id::EvtIsOpenCreate, Bool),
    key("evt.arg", Id::EvtArg, Str),
    key("evt.rawarg", Id::EvtArg, Str),
    d("evt.args", Id::EvtArgs, Str),
    d("evt.buffer", Id::EvtBuffer, Str),
    d("ferret.type", Id::FerretType, Str),
    d("ferret.file.created", Id::FileCreated, Str),
    d("ferret.file.changed", Id::FileCreated, Str),
    d("ferret.exec.empty_path", Id::ExecEmptyPath, Bool),
    d("ferret.exec.setuid", Id::ExecSetuid, Bool),
    d("ferret.file.upper_layer", Id::FileUpperLayer, Bool),
    d("proc.name", Id::ProcName, Str),
    d("proc.exe", Id::ProcExe, Str),
    d("proc.exepath", Id::ProcExePath, Str),
    d("proc.args", Id::ProcArgs, Str),
    d("proc.cmdline", Id::ProcCmdline, Str),
    d("proc.argv", Id::ProcArgv, Str),
    d("proc.pid", Id::ProcPid, Int),
    d("proc.ppid", Id::ProcPpid, Int),
    d("proc.vpid", Id::ProcVpid, Int),
    d("proc.tty", Id::ProcTty, Int),
    d("proc.cwd", Id::ProcCwd, Str),
    d("proc.cwd.raw", Id::ProcCwdRaw, Str),
    d("proc.sha256", Id::ProcSha256, Str),
    d("proc.hash.sha256", Id::ProcSha256, Str),
    d("proc.duration", Id::ProcDuration, Int),
    d("proc.is_exe_upper_layer", Id::ProcUpperLayer, Bool),
    d("proc.is_exe_from_memfd", Id::ProcMemfd, Bool),
    d("proc.exe_deleted", Id::ProcExeDeleted, Bool),
    d("proc.exe_ino", Id::ProcExeIno, Int),
    d("proc.exe_ino.mtime", Id::ProcExeInoMtime, Int),
    d("proc.is_container_init", Id::ProcContainerInit, Bool),
    d("proc.pname", Id::ProcPname, Str),
    d("proc.pexe", Id::ProcPexe, Str),
    d("proc.pexepath", Id::ProcPexePath, Str),
    d("proc.pcmdline", Id::ProcPcmdline, Str),
    d("proc.pargv", Id::ProcPargv, Str),
    lv("proc.aname", Id::ProcAname, Str),
    lv("proc.aexe", Id::ProcAexe, Str),
    lv("proc.aexepath", Id::ProcAexePath, Str),
    lv("proc.apid", Id::ProcApid, Int),
    lv("proc.acmdline", Id::ProcAcmdline, Str),
    d("thread.tid", Id::ThreadTid, Int),
    d("thread.cap_effective", Id::ThreadCapEffective, Str),
    d("thread.cap_permitted", Id::ThreadCapPermitted, Str),
    d("thread.vtid", Id::ThreadVtid, Int),
    d("user.uid", Id::UserUid, Int),
    d("user.ruid", Id::UserRuid, Int),
    d("user.name", Id::UserName, Str),
    d("user.loginuid", Id::UserLoginUid, Int),
    d("user.loginname", Id::UserLoginName, Str),
    d("user.homedir", Id::UserHomedir, Str),
    d("user.shell", Id::UserShell, Str),
    d("group.gid", Id::GroupGid, Int),
    d("group.name", Id::GroupName, Str),
    d("fd.num", Id::FdNum, Int),
    d("fd.name", Id::FdName, Str),
    d("fd.nameraw", Id::FdNameRaw, Str),
    d("fd.directory", Id::FdDirectory, Str),
    d("fd.filename", Id::FdFilename, Str),
    d("fd.target", Id::FdTarget, Str),
    d("fd.typechar", Id::FdTypeChar, Str),
    d("fd.type", Id::FdType, Str),
    d("fd.l4proto", Id::FdL4Proto, Str),
    d("fd.sockfamily", Id::FdSockFamily, Str),
    d("fd.ip", Id::FdIp, Ip),
    d("fd.sip", Id::FdSip, Ip),
    d("fd.cip", Id::FdCip, Ip),
    d("fd.lip", Id::FdLip, Ip),
    d("fd.rip", Id::FdRip, Ip),
    d("fd.port", Id::FdPort, Int),
    d("fd.sport", Id::FdSport, Int),
    d("fd.cport", Id::FdCport, Int),
    d("fd.lport", Id::FdLport, Int),
    d("fd.rport", Id::FdRport, Int),
    d("fd.net", Id::FdNet, Net),
    d("fd.snet", Id::FdSnet, Net),
    d("fd.cnet", Id::FdCnet, Net),
    d("fd.lnet", Id::FdLnet, Net),
    d("fd.rnet", Id::FdRnet, Net),
    d("fd.sip.name", Id::FdSipName, Str),
    d("fd.cip.name", Id::FdCipName, Str),
    d("fd.lip.name", Id::FdLipName, Str),
    d("fd.rip.name", Id::FdRipName, Str),
    d("fd.connected", Id::FdConnected, Bool),
    d("fd.name_changed", Id::FdNameChanged, Bool),
    d("fd.initiated", Id::FdInitiated, Bool),
    d("container.id", Id::ContainerId, Str),
    d("container.full_id", Id::ContainerFullId, Str),
    d("container.name", Id::ContainerName, Str),
    d("container.image", Id::ContainerImage, Str),
    d("container.image.repository", Id::ContainerImageRepo, Str),
    d("container.image.tag", Id::ContainerImageTag, Str),
    d("container.image.digest", Id::ContainerImageDigest, Str),
    d("container.image.id", Id::ContainerImageId, Str),
    d("container.privileged", Id::ContainerPrivileged, Bool),
    d("container.mounts", Id::ContainerMounts, Str),
    key("container.mount.source", Id::ContainerMountSource, Str),
    d("container.start_ts", Id::ContainerStartTs, Int),
    d("container.type", Id::ContainerType, Str),
    key("container.label", Id::ContainerLabel, Str),
    d("k8s.ns.name", Id::K8sNsName, Str),
    d("k8s.pod.name", Id::K8sPodName, Str),
    d("k8s.pod.uid", Id::K8sPodUid, Str),
    key("k8s.pod.label", Id::K8sPodLabel, Str),
    d("k8s.container.name", Id::K8sContainerName, Str),
    d("dns.name", Id::DnsName, Str),
    d("dns.type", Id::DnsType, Str),
    d("dns.rcode", Id::DnsRcode, Str),
    d("dns.answers", Id::DnsAnswers, Str),
];

/// Falco fields ferret does not capture. Rules using them load; the checks are false (as Falco
/// does for a field it cannot extract) and `ferret rules check` names them.
static UNAVAILABLE: &[(&str, Type)] = &[
    ("proc.env", Str),
    ("proc.sname", Str),
    ("proc.sid", Int),
    ("proc.vpgid", Int),
    ("proc.vpgid.name", Str),
    ("proc.vpgid.exe", Str),
    ("proc.is_vpgid_leader", Bool),
    ("proc.is_sid_leader", Bool),
    ("proc.ppid.duration", Int),
    ("proc.exe_ino.ctime", Int),
    ("proc.exe_ino.ctime_duration_proc_start", Int),
    ("proc.is_exe_writable", Bool),
    ("proc.is_container_healthcheck", Bool),
    ("proc.is_container_liveness_probe", Bool),
    ("proc.is_container_readiness_probe", Bool),
    ("thread.cap_inheritable", Str),
    ("fd.types", Str),
    ("container.mount.dest", Str),
    ("container.healthcheck", Str),
    ("k8s.ns.labels", Str),
    ("k8s.pod.labels", Str),
];

/// A resolved field reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRef {
    pub id: Id,
    pub ty: Type,
    /// The ancestor level, or the key in brackets.
    pub level: Option<usize>,
    pub key: Option<Box<str>>,
    /// The name as written (for outputs and messages).
    pub name: Box<str>,
}

/// Resolve `name` (with its bracket argument) or say why not.
pub fn resolve(name: &str, arg: Option<&str>) -> Result<FieldRef, String> {
    // `evt.arg.flags` is the same as `evt.arg[flags]`.
    for prefix in ["evt.arg.", "evt.rawarg."] {
        if let Some(k) = name.strip_prefix(prefix) {
            if arg.is_none() && !k.is_empty() {
                return Ok(FieldRef { id: Id::EvtArg, ty: Str, level: None, key: Some(k.into()), name: name.into() });
            }
        }
    }
    let full = match arg {
        Some(a) => format!("{name}[{a}]"),
        None => name.to_string(),
    };
    if let Some(def) = DEFS.iter().find(|d| d.name == name) {
        let (level, key) = match (def.arg, arg) {
            (ArgKind::None, Some(_)) => return Err(format!("field '{name}' takes no argument")),
            (ArgKind::None, None) => (None, None),
            (ArgKind::Level, None) => (None, None),
            (ArgKind::Level, Some(a)) => match a.trim().parse::<usize>() {
                Ok(n) => (Some(n), None),
                Err(_) => return Err(format!("field '{name}' takes an ancestor level, not '{a}'")),
            },
            (ArgKind::Key, Some(a)) if !a.is_empty() => (None, Some(a.into())),
            (ArgKind::Key, _) => return Err(format!("field '{name}' needs an argument in brackets")),
        };
        return Ok(FieldRef { id: def.id, ty: def.ty, level, key, name: full.into() });
    }
    if let Some((_, ty)) = UNAVAILABLE.iter().find(|(n, _)| *n == name) {
        return Ok(FieldRef { id: Id::Unavailable, ty: *ty, level: None, key: None, name: full.into() });
    }
    Err(format!("unknown field '{full}'"))
}

/// A value extracted from an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Bool(bool),
    Ip(IpAddr),
    /// Several values (any ancestor, every DNS answer): a check holds if it holds for one.
    List(Vec<Val<'a>>),
}

impl Val<'_> {
    /// The value as Falco prints it in outputs.
    pub fn render(&self) -> String {
        match self {
            Val::Str(s) => s.to_string(),
            Val::Int(n) => n.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Ip(ip) => ip.to_string(),
            Val::List(v) => v.iter().map(Val::render).collect::<Vec<_>>().join(","),
        }
    }
}

/// Fields with one value per ancestor (`proc.aname`...): without a level, any ancestor.
pub fn is_ancestor_field(id: Id) -> bool {
    matches!(id, Id::ProcAname | Id::ProcAexe | Id::ProcAexePath | Id::ProcApid | Id::ProcAcmdline)
}

/// The Falco event type of a ferret event (`execve` for a successful exec...).
pub fn evt_type(ev: &Event) -> &str {
    match ev.event_type.as_str() {
        "process_exec" => {
            if ev.exec.as_ref().is_some_and(|e| e.execveat) {
                "execveat"
            } else {
                "execve"
            }
        }
        "process_fork" => "clone",
        "process_exit" => "procexit",
        other => ev.syscall.as_ref().map(|s| s.name.as_str()).unwrap_or(other),
    }
}

/// Per-event evaluation state: the event, and strings built at most once.
pub struct Ctx<'e> {
    pub ev: &'e Event,
    pub num: u64,
    pub users: &'e Users,
    /// The rule set's shared `contains` automata and what they found in this event.
    pub groups: Option<&'e [crate::shared::Group]>,
    pub hits: Option<&'e crate::shared::Hits>,
    cmdline: OnceCell<String>,
    args: OnceCell<String>,
    pcmdline: OnceCell<String>,
    fd_name: OnceCell<Option<String>>,
    cwd: OnceCell<Option<String>>,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("event", &self.ev.id).finish()
    }
}

fn falco_cmdline(comm: &str, args: &[String]) -> String {
    let mut s = String::with_capacity(comm.len() + args.iter().map(|a| a.len() + 1).sum::<usize>());
    s.push_str(comm);
    for a in args.iter().skip(1) {
        s.push(' ');
        s.push_str(a);
    }
    s
}

fn basename(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return p;
    }
    t.rsplit('/').next().unwrap_or(t)
}

fn dirname(p: &str) -> &str {
    match p.rfind('/') {
        Some(0) => "/",
        Some(i) => &p[..i],
        None => ".",
    }
}

/// What Falco prints for a user or group id it cannot name.
const NA: &str = "<NA>";

/// `user.name` / `group.name`: the name the enricher found (a container's own /etc/passwd or
/// /etc/group); an event without one (recorded before it existed, or replayed offline) falls
/// back to the host's databases, except in a container, whose ids the host does not name.
/// Unknown ids are `<NA>`, as in Falco.
fn own_name<'a>(found: &'a Option<String>, in_container: bool, host: impl FnOnce() -> Option<String>) -> Val<'a> {
    match (found, in_container) {
        (Some(n), _) => Val::Str(Cow::Borrowed(n.as_str())),
        (None, true) => Val::Str(Cow::Borrowed(NA)),
        (None, false) => host().map(|n| Val::Str(Cow::Owned(n))).unwrap_or(Val::Str(Cow::Borrowed(NA))),
    }
}

/// A mode (octal text) as Falco prints it: the octal value and the flag names.
fn mode_names(octal: &str) -> String {
    const BITS: &[(u32, &str)] = &[
        (0o4000, "S_ISUID"),
        (0o2000, "S_ISGID"),
        (0o1000, "S_ISVTX"),
        (0o400, "S_IRUSR"),
        (0o200, "S_IWUSR"),
        (0o100, "S_IXUSR"),
        (0o40, "S_IRGRP"),
        (0o20, "S_IWGRP"),
        (0o10, "S_IXGRP"),
        (0o4, "S_IROTH"),
        (0o2, "S_IWOTH"),
        (0o1, "S_IXOTH"),
    ];
    match u32::from_str_radix(octal.trim_start_matches("0o"), 8) {
        Ok(m) => {
            let names: Vec<&str> = BITS.iter().filter(|(b, _)| m & b != 0).map(|(_, n)| *n).collect();
            format!("0{:o}({})", m, names.join("|"))
        }
        Err(_) => octal.to_string(),
    }
}

fn tty_number(name: &str) -> i64 {
    // Falco reports the device number; ferret has the name. Rebuild the number for the usual
    // terminals, and any non-zero value otherwise (rules test `proc.tty != 0`).
    let num = |prefix: &str| name.strip_prefix(prefix).and_then(|n| n.parse::<u32>().ok()).map(i64::from);
    if let Some(n) = num("pts") {
        return (136 << 8) + n;
    }
    if let Some(n) = num("ttyS") {
        return (4 << 8) + 64 + n;
    }
    if let Some(n) = num("tty") {
        return (4 << 8) + n;
    }
    1
}

fn json_str(v: &serde_json::Value) -> Cow<'_, str> {
    match v {
        serde_json::Value::String(s) => Cow::Borrowed(s),
        serde_json::Value::Array(items) => {
            Cow::Owned(items.iter().map(|i| json_str(i).into_owned()).collect::<Vec<_>>().join("|"))
        }
        serde_json::Value::Null => Cow::Borrowed(""),
        other => Cow::Owned(other.to_string()),
    }
}

fn rfc3339_ns(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos()).ok()
}

/// Which side of a connection is the server.
enum Side {
    Local,
    Remote,
}

impl<'e> Ctx<'e> {
    pub fn new(ev: &'e Event, num: u64, users: &'e Users) -> Self {
        Ctx {
            ev,
            num,
            users,
            groups: None,
            hits: None,
            cmdline: OnceCell::new(),
            args: OnceCell::new(),
            pcmdline: OnceCell::new(),
            fd_name: OnceCell::new(),
            cwd: OnceCell::new(),
        }
    }

    fn is_open(&self) -> bool {
        self.ev.event_type == "file_open"
    }

    fn open_flag(&self, name: &str) -> bool {
        self.ev.file.as_ref().is_some_and(|f| f.flags.iter().any(|x| x == name))
    }

    fn is_write_open(&self) -> bool {
        ["O_WRONLY", "O_RDWR"].iter().any(|f| self.open_flag(f))
    }

    fn endpoint(&self, side: Side) -> Option<&'e Endpoint> {
        let net = self.ev.net.as_ref()?;
        match side {
            Side::Local => net.local.as_ref(),
            Side::Remote => net.remote.as_ref(),
        }
    }

    /// The server end: the remote one for connects and queries, the local one for accept/bind/listen.
    fn server(&self) -> Option<&'e Endpoint> {
        match self.ev.event_type.as_str() {
            "net_accept" | "net_bind" | "net_listen" => self.endpoint(Side::Local),
            "dns_response" => self.endpoint(Side::Remote).or_else(|| self.endpoint(Side::Local)),
            _ => self.endpoint(Side::Remote),
        }
    }

    fn client(&self) -> Option<&'e Endpoint> {
        match self.ev.event_type.as_str() {
            "net_accept" => self.endpoint(Side::Remote),
            "net_bind" | "net_listen" => None,
            _ => self.endpoint(Side::Local),
        }
    }

    fn is_inet(&self) -> bool {
        self.ev.net.as_ref().is_some_and(|n| n.family == "AF_INET" || n.family == "AF_INET6")
    }

    fn fd_name(&self) -> Option<&str> {
        self.fd_name
            .get_or_init(|| {
                if let Some(f) = &self.ev.file {
                    if let Some(p) = &f.path {
                        return Some(p.clone());
                    }
                }
                let net = self.ev.net.as_ref()?;
                if net.family == "AF_UNIX" {
                    let p = net.remote.as_ref().and_then(|e| e.path.clone());
                    return p.or_else(|| net.local.as_ref().and_then(|e| e.path.clone()));
                }
                let fmt = |e: Option<&Endpoint>| -> String {
                    match e {
                        Some(e @ Endpoint { ip: Some(ip), port, .. }) => {
                            format!(
                                "{}:{}",
                                ip_of(e).map(|i| i.to_string()).unwrap_or_else(|| ip.clone()),
                                port.unwrap_or(0)
                            )
                        }
                        _ => String::new(),
                    }
                };
                let (c, s) = (self.client(), self.server());
                if c.is_none() {
                    return Some(fmt(s));
                }
                Some(format!("{}->{}", fmt(c), fmt(s)))
            })
            .as_deref()
    }

    fn cwd(&self) -> Option<&str> {
        self.cwd
            .get_or_init(|| {
                let c = self.ev.process.cwd.as_ref()?;
                Some(if c.ends_with('/') { c.clone() } else { format!("{c}/") })
            })
            .as_deref()
    }

    /// An ancestor field at level `n` (1 = parent).
    pub fn ancestor_value(&self, id: Id, n: usize) -> Option<Val<'e>> {
        let a = self.ancestor(n)?;
        match id {
            Id::ProcAname => Some(Val::Str(Cow::Borrowed(a.comm.as_str()))),
            Id::ProcAexe => a.args.first().map(|x| Val::Str(Cow::Borrowed(x.as_str()))),
            Id::ProcAexePath => a.exe.as_deref().map(|x| Val::Str(Cow::Borrowed(x))),
            Id::ProcApid => Some(Val::Int(a.pid as i64)),
            Id::ProcAcmdline => Some(Val::Str(Cow::Owned(falco_cmdline(&a.comm, &a.args)))),
            _ => None,
        }
    }

    fn ancestor(&self, level: usize) -> Option<&'e ferret_event::Ancestor> {
        level.checked_sub(1).and_then(|i| self.ev.process.ancestors.get(i)).map(|a| a.as_ref())
    }

    fn arg(&self, k: &str) -> Option<Val<'e>> {
        let ev = self.ev;
        let args = ev.syscall.as_ref().map(|s| &s.args);
        let file = ev.file.as_ref();
        let s = |x: &'e str| Some(Val::Str(Cow::Borrowed(x)));
        // Falco's argument names first, then ferret's own argument names.
        match (k, ev.event_type.as_str()) {
            ("flags", "file_open") => {
                return Some(Val::Str(Cow::Owned(file.map(|f| f.flags.join("|")).unwrap_or_default())))
            }
            ("flags", "process_exec") => {
                let mut fl = Vec::new();
                if ev.process.exe_upper_layer {
                    fl.push("EXE_UPPER_LAYER");
                }
                if ev.process.exe_memfd {
                    fl.push("EXE_FROM_MEMFD");
                }
                return Some(Val::Str(Cow::Owned(fl.join("|"))));
            }
            ("filename", "process_exec") => return ev.exec.as_ref()?.filename.as_deref().and_then(s),
            ("name" | "path" | "filename" | "pathname", _) if file.is_some() => {
                if let Some(p) = file.and_then(|f| f.path.as_deref()) {
                    if ev.event_type != "memfd_create" || k != "name" {
                        return s(p);
                    }
                }
            }
            ("oldpath", "file_rename") => return file?.path.as_deref().and_then(s),
            ("newpath", "file_rename") => return file?.target.as_deref().and_then(s),
            ("oldpath", "file_link") => return file?.target.as_deref().and_then(s),
            ("newpath", "file_link") => return file?.path.as_deref().and_then(s),
            ("target", "file_symlink") => return file?.target.as_deref().and_then(s),
            ("linkpath", "file_symlink") => return file?.path.as_deref().and_then(s),
            ("target" | "dir", "mount" | "umount") => return file?.path.as_deref().and_then(s),
            ("dev" | "source", "mount") => return file?.target.as_deref().and_then(s),
            ("type", "mount") => return args?.get("fstype").map(|v| Val::Str(json_str(v))),
            // Falco prints modes with their flag names (`S_ISUID|S_IRWXU...`).
            ("mode", _) if file.and_then(|f| f.mode.as_deref()).is_some() => {
                return file.and_then(|f| f.mode.as_deref()).map(|m| Val::Str(Cow::Owned(mode_names(m))))
            }
            // ...and uid arguments as user names.
            ("uid" | "ruid" | "euid" | "suid", _) => {
                let v = args?.get(k)?;
                return Some(
                    match v.as_u64().and_then(|u| u32::try_from(u).ok()).and_then(|u| self.users.user_name(u)) {
                        Some(name) => Val::Str(Cow::Owned(name)),
                        None => Val::Str(json_str(v)),
                    },
                );
            }
            ("request", "ptrace") => return args?.get("request_name").map(|v| Val::Str(json_str(v))),
            ("pid", "ptrace" | "kill" | "process_vm_readv" | "process_vm_writev") => {
                return args?.get("target_pid").map(|v| Val::Str(json_str(v)))
            }
            ("sig", "kill") => return args?.get("signal_name").map(|v| Val::Str(json_str(v))),
            ("cmd", "bpf") => return args?.get("cmd_name").map(|v| Val::Str(json_str(v))),
            ("option", "prctl") => return args?.get("option_name").map(|v| Val::Str(json_str(v))),
            ("fd", "dup") => return args?.get("oldfd").map(|v| Val::Str(json_str(v))),
            ("res" | "res_or_fd", _) => return Some(Val::Str(Cow::Owned(ev.ret.to_string()))),
            ("domain", "net_socket") => return ev.net.as_ref().map(|n| Val::Str(Cow::Borrowed(n.family.as_str()))),
            ("addr" | "tuple", _) if ev.net.is_some() => return self.fd_name().map(|x| Val::Str(Cow::Owned(x.into()))),
            _ => {}
        }
        args?.get(k).map(|v| Val::Str(json_str(v)))
    }

    /// Every string a field's value holds, for scans over text: the string itself, each item of
    /// a list, or the rendering of a number, address or flag; nothing when the field does not apply.
    pub fn each_text(&self, f: &FieldRef, mut visit: impl FnMut(&str)) {
        match self.get(f) {
            Some(Val::Str(s)) => visit(&s),
            Some(Val::List(items)) => items.iter().for_each(|i| visit(&i.render())),
            Some(other) => visit(&other.render()),
            None => {}
        }
    }

    /// Extract a field; None when it does not apply to this event.
    pub fn get(&self, f: &FieldRef) -> Option<Val<'_>> {
        let ev = self.ev;
        let p = &ev.process;
        let s = |x: &'e str| Some(Val::Str(Cow::Borrowed(x)));
        let int = |n: i64| Some(Val::Int(n));
        let b = |x: bool| Some(Val::Bool(x));
        let container = ev.container.as_deref();
        match f.id {
            Id::EvtType => s(evt_type(ev)),
            Id::EvtNum => int(self.num as i64),
            Id::EvtRes => {
                if ev.ret < 0 {
                    s(ev.error.as_deref().unwrap_or("E"))
                } else {
                    s("SUCCESS")
                }
            }
            Id::EvtRawRes => int(ev.ret),
            Id::EvtFailed => b(ev.ret < 0),
            Id::EvtDir => s("<"),
            Id::EvtHostname => s(&ev.host.hostname),
            Id::EvtTime => s(&ev.time),
            Id::EvtSource => s("syscall"),
            Id::EvtCategory => s(match ev.event_type.as_str() {
                t if t.starts_with("process_") => "process",
                t if t.starts_with("file_") => "file",
                t if t.starts_with("net_") || t.starts_with("dns_") => "net",
                _ => "other",
            }),
            Id::EvtIsOpenRead => {
                self.is_open().then(|| Val::Bool(self.open_flag("O_RDONLY") || self.open_flag("O_RDWR")))
            }
            Id::EvtIsOpenWrite => self.is_open().then(|| Val::Bool(self.is_write_open())),
            Id::EvtIsOpenExec => {
                self.is_open().then(|| Val::Bool(self.open_flag("O_EXEC") || self.open_flag("__FMODE_EXEC")))
            }
            Id::EvtIsOpenCreate => {
                self.is_open().then(|| Val::Bool(self.open_flag("O_CREAT") || self.open_flag("O_TMPFILE")))
            }
            Id::EvtArg => self.arg(f.key.as_deref().unwrap_or("")),
            Id::EvtArgs => {
                let a = ev.syscall.as_ref()?;
                let parts: Vec<String> = a.args.iter().map(|(k, v)| format!("{k}={}", json_str(v))).collect();
                Some(Val::Str(Cow::Owned(parts.join(" "))))
            }
            Id::EvtBuffer | Id::Unavailable => None,
            Id::FerretType => s(&ev.event_type),
            Id::FileUpperLayer => ev.file.as_ref().map(|f| Val::Bool(f.upper_layer)),
            Id::ExecEmptyPath => ev.exec.as_ref().map(|e| Val::Bool(e.empty_path)),
            // The new image runs with an effective uid its caller did not have: a setuid binary.
            Id::ExecSetuid => (ev.event_type == "process_exec").then(|| {
                let mode = p.exe_file.as_ref().and_then(|f| u32::from_str_radix(&f.mode, 8).ok()).unwrap_or(0);
                Val::Bool(mode & 0o4000 != 0 && p.euid != p.uid)
            }),
            Id::FileCreated => {
                let f = ev.file.as_ref()?;
                if ev.event_type == "file_rename" {
                    f.target.as_deref().and_then(s)
                } else {
                    f.path.as_deref().and_then(s)
                }
            }
            Id::ProcName => s(&p.comm),
            Id::ProcExe => p.args.first().map(|a| Val::Str(Cow::Borrowed(a.as_str()))),
            Id::ProcExePath => p.exe.as_deref().and_then(s),
            Id::ProcArgs => Some(Val::Str(Cow::Borrowed(
                self.args.get_or_init(|| p.args.get(1..).unwrap_or(&[]).join(" ")).as_str(),
            ))),
            Id::ProcCmdline => {
                Some(Val::Str(Cow::Borrowed(self.cmdline.get_or_init(|| falco_cmdline(&p.comm, &p.args)).as_str())))
            }
            Id::ProcArgv => s(&p.cmdline),
            Id::ProcPid => int(p.pid as i64),
            Id::ProcPpid => int(p.ppid as i64),
            Id::ProcVpid => int(p.ns_pid as i64),
            Id::ProcTty => int(p.tty.as_deref().map(tty_number).unwrap_or(0)),
            Id::ProcCwd => self.cwd().map(|c| Val::Str(Cow::Borrowed(c))),
            Id::ProcCwdRaw => p.cwd.as_deref().and_then(s),
            Id::ProcSha256 => p.exe_sha256.as_deref().and_then(s),
            Id::ProcDuration => {
                let start = rfc3339_ns(&p.start_time)?;
                let now = rfc3339_ns(&ev.time)?;
                int(now.saturating_sub(start).max(0))
            }
            Id::ProcUpperLayer => b(p.exe_upper_layer),
            Id::ProcMemfd => b(p.exe_memfd),
            Id::ProcExeDeleted => b(p.exe_deleted),
            Id::ProcExeIno => p.exe_file.as_ref().and_then(|e| int(e.ino as i64)),
            Id::ProcExeInoMtime => p.exe_file.as_ref().and_then(|e| rfc3339_ns(&e.mtime)).and_then(int),
            Id::ProcContainerInit => b(p.container_init),
            Id::ProcPname => self.ancestor(1).map(|a| Val::Str(Cow::Borrowed(a.comm.as_str()))),
            Id::ProcPexe => self.ancestor(1).and_then(|a| a.args.first()).map(|x| Val::Str(Cow::Borrowed(x.as_str()))),
            Id::ProcPexePath => self.ancestor(1).and_then(|a| a.exe.as_deref()).and_then(s),
            Id::ProcPcmdline => {
                let a = self.ancestor(1)?;
                Some(Val::Str(Cow::Borrowed(self.pcmdline.get_or_init(|| falco_cmdline(&a.comm, &a.args)).as_str())))
            }
            Id::ProcPargv => self.ancestor(1).map(|a| Val::Str(Cow::Owned(a.args.join(" ")))),
            Id::ProcAname | Id::ProcAexe | Id::ProcAexePath | Id::ProcApid | Id::ProcAcmdline => match f.level {
                Some(0) => match f.id {
                    Id::ProcAname => s(&p.comm),
                    Id::ProcAexe => p.args.first().map(|a| Val::Str(Cow::Borrowed(a.as_str()))),
                    Id::ProcAexePath => p.exe.as_deref().and_then(s),
                    Id::ProcApid => int(p.pid as i64),
                    _ => Some(Val::Str(Cow::Owned(falco_cmdline(&p.comm, &p.args)))),
                },
                Some(n) => self.ancestor_value(f.id, n),
                None => {
                    let all: Vec<Val> = (1..=p.ancestors.len()).filter_map(|n| self.ancestor_value(f.id, n)).collect();
                    (!all.is_empty()).then_some(Val::List(all))
                }
            },
            Id::ThreadTid => int(p.tid as i64),
            Id::ThreadCapEffective => p.cap_effective.as_deref().and_then(cap_names).map(|n| Val::Str(Cow::Owned(n))),
            Id::ThreadCapPermitted => p.cap_permitted.as_deref().and_then(cap_names).map(|n| Val::Str(Cow::Owned(n))),
            Id::ThreadVtid => int(p.ns_pid as i64 + (p.tid as i64 - p.pid as i64)),
            Id::UserUid => int(p.euid as i64),
            Id::UserRuid => int(p.uid as i64),
            Id::UserName => Some(own_name(&p.user_name, ev.container.is_some(), || self.users.user_name(p.euid))),
            Id::UserLoginUid => int(if p.loginuid == u32::MAX { -1 } else { p.loginuid as i64 }),
            Id::UserLoginName => {
                if p.loginuid == u32::MAX {
                    None
                } else {
                    Some(
                        self.users
                            .user_name(p.loginuid)
                            .map(|n| Val::Str(Cow::Owned(n)))
                            .unwrap_or(Val::Str(Cow::Borrowed(NA))),
                    )
                }
            }
            Id::UserHomedir => Some(
                self.users.user_home(p.euid).map(|n| Val::Str(Cow::Owned(n))).unwrap_or(Val::Str(Cow::Borrowed(NA))),
            ),
            Id::UserShell => Some(
                self.users.user_shell(p.euid).map(|n| Val::Str(Cow::Owned(n))).unwrap_or(Val::Str(Cow::Borrowed(NA))),
            ),
            Id::GroupGid => int(p.egid as i64),
            Id::GroupName => Some(own_name(&p.group_name, ev.container.is_some(), || self.users.group_name(p.egid))),
            Id::FdNum => match ev.event_type.as_str() {
                "file_open" | "memfd_create" | "net_socket" | "net_accept" => int(ev.ret.max(-1)),
                "dup" => int(ev.ret.max(-1)),
                _ => ev.syscall.as_ref()?.args.get("fd").and_then(|v| v.as_i64()).and_then(int),
            },
            Id::FdName => self.fd_name().map(|x| Val::Str(Cow::Borrowed(x))),
            Id::FdNameRaw => {
                let f = ev.file.as_ref()?;
                f.path_arg.as_deref().or(f.path.as_deref()).and_then(s)
            }
            Id::FdDirectory => {
                let path = ev.file.as_ref()?.path.as_deref()?;
                if ev.file.as_ref()?.inode.as_ref().is_some_and(|i| i.kind == "dir") {
                    return s(path);
                }
                s(dirname(path))
            }
            Id::FdFilename => s(basename(ev.file.as_ref()?.path.as_deref()?)),
            Id::FdTarget => ev.file.as_ref()?.target.as_deref().and_then(s),
            Id::FdTypeChar | Id::FdType => {
                let (c, t) = if let Some(net) = &ev.net {
                    match net.family.as_str() {
                        "AF_INET" => ("4", "ipv4"),
                        "AF_INET6" => ("6", "ipv6"),
                        "AF_UNIX" => ("u", "unix"),
                        "AF_NETLINK" => ("n", "netlink"),
                        _ => ("o", "other"),
                    }
                } else if let Some(file) = &ev.file {
                    if ev.event_type == "memfd_create"
                        || ev.process.exe_memfd && file.path.as_deref().is_some_and(|p| p.starts_with("/memfd:"))
                    {
                        ("m", "memfd")
                    } else {
                        match file.inode.as_ref().map(|i| i.kind.as_str()) {
                            Some("dir") => ("d", "directory"),
                            Some("fifo") => ("p", "pipe"),
                            Some("socket") => ("u", "unix"),
                            _ => ("f", "file"),
                        }
                    }
                } else {
                    return None;
                };
                s(if f.id == Id::FdTypeChar { c } else { t })
            }
            Id::FdL4Proto => {
                let net = ev.net.as_ref()?;
                if !self.is_inet() {
                    return None;
                }
                s(match (net.protocol.as_str(), net.sock_type.as_str()) {
                    ("tcp" | "TCP", _) | (_, "SOCK_STREAM") => "tcp",
                    ("udp" | "UDP", _) | (_, "SOCK_DGRAM") => "udp",
                    ("icmp" | "ICMP" | "icmpv6", _) => "icmp",
                    (_, "SOCK_RAW") => "raw",
                    _ => "unknown",
                })
            }
            Id::FdSockFamily => {
                let net = ev.net.as_ref()?;
                s(match net.family.as_str() {
                    "AF_INET" | "AF_INET6" => "ip",
                    "AF_UNIX" => "unix",
                    _ => "other",
                })
            }
            Id::FdIp | Id::FdNet => {
                let ips: Vec<Val> =
                    [self.client(), self.server()].into_iter().flatten().filter_map(ip_of).map(Val::Ip).collect();
                (!ips.is_empty()).then_some(Val::List(ips))
            }
            Id::FdSip | Id::FdSnet => self.server().and_then(ip_of).map(Val::Ip),
            Id::FdCip | Id::FdCnet => self.client().and_then(ip_of).map(Val::Ip),
            Id::FdLip | Id::FdLnet => self.endpoint(Side::Local).and_then(ip_of).map(Val::Ip),
            Id::FdRip | Id::FdRnet => self.endpoint(Side::Remote).and_then(ip_of).map(Val::Ip),
            Id::FdPort => {
                let ports: Vec<Val> = [self.client(), self.server()]
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.port)
                    .map(|p| Val::Int(p as i64))
                    .collect();
                (!ports.is_empty()).then_some(Val::List(ports))
            }
            Id::FdSport => self.server().and_then(|e| e.port).and_then(|p| int(p as i64)),
            Id::FdCport => self.client().and_then(|e| e.port).and_then(|p| int(p as i64)),
            Id::FdLport => self.endpoint(Side::Local).and_then(|e| e.port).and_then(|p| int(p as i64)),
            Id::FdRport => self.endpoint(Side::Remote).and_then(|e| e.port).and_then(|p| int(p as i64)),
            Id::FdSipName => endpoint_names(self.server()),
            Id::FdCipName => endpoint_names(self.client()),
            Id::FdLipName => endpoint_names(self.endpoint(Side::Local)),
            Id::FdRipName => endpoint_names(self.endpoint(Side::Remote)),
            Id::FdConnected => {
                let net = ev.net.as_ref()?;
                b(ev.event_type == "net_accept" || (ev.event_type == "net_connect" && (ev.ret >= 0 || net.in_progress)))
            }
            Id::FdNameChanged => ev.net.as_ref().map(|_| Val::Bool(false)),
            Id::FdInitiated => match ev.event_type.as_str() {
                "net_connect" => b(true),
                "net_accept" => b(false),
                _ => None,
            },
            Id::ContainerId => match container {
                Some(c) => Some(Val::Str(Cow::Owned(c.id.chars().take(12).collect()))),
                None => s("host"),
            },
            Id::ContainerFullId => match container {
                Some(c) => s(&c.id),
                None => s("host"),
            },
            Id::ContainerName => match container {
                Some(c) => c.name.as_deref().and_then(s),
                None => s("host"),
            },
            Id::ContainerImage => container?.image.as_deref().and_then(s),
            Id::ContainerImageRepo => container?.image_repository.as_deref().and_then(s),
            Id::ContainerImageTag => container?.image_tag.as_deref().and_then(s),
            Id::ContainerImageDigest => container?.image_digest.as_deref().and_then(s),
            Id::ContainerImageId => container?.image_id.as_deref().and_then(s),
            Id::ContainerPrivileged => container?.privileged.and_then(b),
            Id::ContainerMounts => Some(Val::Str(Cow::Owned(container?.host_mounts.join(",")))),
            Id::ContainerMountSource => {
                let want = f.key.as_deref()?;
                container?
                    .host_mounts
                    .iter()
                    .find(|m| glob_simple(want, m))
                    .map(|m| Val::Str(Cow::Borrowed(m.as_str())))
            }
            Id::ContainerStartTs => container?.started_at.as_deref().and_then(rfc3339_ns).and_then(int),
            Id::ContainerType => s(&container?.runtime),
            Id::ContainerLabel => container?.labels.get(f.key.as_deref()?).map(|v| Val::Str(Cow::Borrowed(v.as_str()))),
            Id::K8sNsName => container?.pod_namespace.as_deref().and_then(s),
            Id::K8sPodName => container?.pod_name.as_deref().and_then(s),
            Id::K8sPodUid => container?.pod_uid.as_deref().and_then(s),
            Id::K8sPodLabel => container?.labels.get(f.key.as_deref()?).map(|v| Val::Str(Cow::Borrowed(v.as_str()))),
            Id::K8sContainerName => {
                container?.labels.get("io.kubernetes.container.name").map(|v| Val::Str(Cow::Borrowed(v.as_str())))
            }
            Id::DnsName => {
                ev.dns.as_ref()?.questions.first().map(|q| Val::Str(Cow::Borrowed(q.name.trim_end_matches('.'))))
            }
            Id::DnsType => ev.dns.as_ref()?.questions.first().map(|q| Val::Str(Cow::Borrowed(q.qtype.as_str()))),
            Id::DnsRcode => ev.dns.as_ref()?.rcode.as_deref().and_then(s),
            Id::DnsAnswers => {
                let d = ev.dns.as_ref()?;
                let all: Vec<Val> = d.answers.iter().map(|a| Val::Str(Cow::Borrowed(a.data.as_str()))).collect();
                (!all.is_empty()).then_some(Val::List(all))
            }
        }
    }
}

/// Capability names, in bit order.
const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// A capability set (hex, as /proc/PID/status prints it) as Falco prints it: names, space-separated.
fn cap_names(hex: &str) -> Option<String> {
    let bits = u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok()?;
    let names: Vec<String> = (0..64)
        .filter(|i| bits & (1u64 << i) != 0)
        .map(|i| CAPS.get(i).map(|s| s.to_string()).unwrap_or_else(|| format!("CAP_{i}")))
        .collect();
    Some(names.join(" "))
}

/// The address, IPv4-mapped IPv6 (`::ffff:a.b.c.d`) read as the IPv4 address it is, as Falco does.
fn ip_of(e: &Endpoint) -> Option<IpAddr> {
    e.ip.as_deref()?.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

fn endpoint_names(e: Option<&Endpoint>) -> Option<Val<'_>> {
    let e = e?;
    match e.names.len() {
        0 => None,
        1 => Some(Val::Str(Cow::Borrowed(e.names[0].trim_end_matches('.')))),
        _ => Some(Val::List(e.names.iter().map(|n| Val::Str(Cow::Borrowed(n.trim_end_matches('.')))).collect())),
    }
}

/// `*` at the end of a bracket key matches any suffix (`container.mount.source[/proc*]`).
fn glob_simple(pattern: &str, s: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => s.starts_with(prefix),
        None => s == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_names_and_arguments() {
        assert_eq!(resolve("proc.aname", Some("2")).unwrap().level, Some(2));
        assert_eq!(resolve("evt.arg.flags", None).unwrap().key.as_deref(), Some("flags"));
        assert_eq!(resolve("evt.arg", Some("request")).unwrap().key.as_deref(), Some("request"));
        assert!(resolve("proc.nope", None).unwrap_err().contains("unknown field 'proc.nope'"));
        assert!(resolve("proc.name", Some("1")).is_err());
        assert!(resolve("proc.aname", Some("x")).is_err());
        assert_eq!(resolve("proc.env", None).unwrap().id, Id::Unavailable);
        assert_eq!(cap_names("0000000000200001").as_deref(), Some("CAP_CHOWN CAP_SYS_ADMIN"));
    }

    #[test]
    fn helpers() {
        assert_eq!(basename("/usr/bin/ls"), "ls");
        assert_eq!(dirname("/etc/shadow"), "/etc");
        assert_eq!(dirname("/x"), "/");
        assert_eq!(tty_number("pts3"), 34819);
        assert_eq!(tty_number("pts9223372036854775807"), 1);
        assert_eq!(mode_names("4755"), "04755(S_ISUID|S_IRUSR|S_IWUSR|S_IXUSR|S_IRGRP|S_IXGRP|S_IROTH|S_IXOTH)");
        assert_eq!(falco_cmdline("bash", &["/bin/bash".into(), "-c".into(), "id".into()]), "bash -c id");
    }
}
