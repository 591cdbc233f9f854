//! SHA-256 of the executable a process really runs.
//!
//! The file is opened through `/proc/PID/exe` (the kernel's reference to the
//! running image, so a renamed, replaced or deleted path cannot mislead it)
//! at the moment the exec is seen, checked against the inode the kernel
//! reported, and hashed by a worker thread so the ring buffer reader never
//! waits on disk. Results are cached by (dev, inode, mtime, size); files with
//! no link left (deleted, memfd) are hashed every time and never cached, since
//! their identity can be reused.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use ferret_bpf::decode::FileId;
use lru::LruCache;
use sha2::{Digest, Sha256};

/// Why there is no hash.
pub mod reasons {
    pub const TOO_LARGE: &str = "too_large";
    pub const PROCESS_EXITED: &str = "process_exited";
    pub const FILE_CHANGED: &str = "file_changed";
    pub const PENDING: &str = "pending";
    pub const UNKNOWN_EXE: &str = "unknown_exe";
}

/// The result: hex digest, or why there is none.
pub type HashOutcome = Result<String, String>;

/// A hash that may still be computing.
#[derive(Debug, Default)]
pub struct HashSlot {
    result: Mutex<Option<HashOutcome>>,
    ready: Condvar,
}

impl HashSlot {
    fn done(outcome: HashOutcome) -> Arc<HashSlot> {
        Arc::new(HashSlot { result: Mutex::new(Some(outcome)), ready: Condvar::new() })
    }

    fn set(&self, outcome: HashOutcome) {
        let mut r = self.result.lock().unwrap_or_else(|e| e.into_inner());
        *r = Some(outcome);
        self.ready.notify_all();
    }

    /// The outcome, waiting at most `timeout` for it.
    pub fn wait(&self, timeout: Duration) -> HashOutcome {
        let guard = self.result.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) =
            self.ready.wait_timeout_while(guard, timeout, |r| r.is_none()).unwrap_or_else(|e| e.into_inner());
        guard.clone().unwrap_or_else(|| Err(reasons::PENDING.to_string()))
    }

    /// The outcome if it is already known.
    pub fn peek(&self) -> Option<HashOutcome> {
        self.result.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CacheKey {
    dev: u64,
    ino: u64,
    mtime_sec: i64,
    mtime_nsec: u32,
    size: u64,
}

impl From<&FileId> for CacheKey {
    fn from(f: &FileId) -> Self {
        CacheKey { dev: f.dev_userspace(), ino: f.ino, mtime_sec: f.mtime_sec, mtime_nsec: f.mtime_nsec, size: f.size }
    }
}

struct Job {
    file: File,
    slot: Arc<HashSlot>,
}

/// Counters of the hasher.
#[derive(Debug, Default)]
pub struct HashStats {
    pub cache_hits: AtomicU64,
    pub computed: AtomicU64,
}

/// Hashes executables off the event path, with a cache.
#[derive(Debug)]
pub struct ExeHasher {
    cache: Mutex<LruCache<CacheKey, Arc<HashSlot>>>,
    jobs: Sender<Job>,
    max_bytes: u64,
    stats: Arc<HashStats>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").finish_non_exhaustive()
    }
}

/// Hashes a whole file, reading at most `max_bytes`.
pub fn sha256_file(file: &mut File, max_bytes: u64) -> HashOutcome {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > max_bytes {
            return Err(reasons::TOO_LARGE.to_string());
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

impl ExeHasher {
    /// Starts `workers` hashing threads; files over `max_bytes` are not hashed.
    pub fn new(max_bytes: u64, cache_entries: usize, workers: usize) -> ExeHasher {
        let (tx, rx): (Sender<Job>, Receiver<Job>) = crossbeam_channel::bounded(4096);
        let stats = Arc::new(HashStats::default());
        for i in 0..workers.max(1) {
            let rx = rx.clone();
            let stats = stats.clone();
            thread::Builder::new()
                .name(format!("ferret-hash-{i}"))
                .spawn(move || {
                    for mut job in rx {
                        let out = sha256_file(&mut job.file, max_bytes);
                        stats.computed.fetch_add(1, Ordering::Relaxed);
                        job.slot.set(out);
                    }
                })
                .expect("spawning a hash worker");
        }
        let cap = std::num::NonZeroUsize::new(cache_entries.max(1)).expect("non-zero");
        ExeHasher { cache: Mutex::new(LruCache::new(cap)), jobs: tx, max_bytes, stats }
    }

    pub fn stats(&self) -> Arc<HashStats> {
        self.stats.clone()
    }

    /// Starts (or finds) the hash of the executable `pid` runs, which the
    /// kernel identified as `file` at `path` (as the host sees it). Call it
    /// as soon as the exec is seen: a process that has already exited is
    /// hashed through `path`, only if that still names the very same,
    /// unmodified inode.
    pub fn request(&self, pid: u32, file: &FileId, path: Option<&str>) -> Arc<HashSlot> {
        let cacheable = file.nlink > 0;
        let key = CacheKey::from(file);
        if cacheable {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = cache.get(&key) {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                return slot.clone();
            }
        }
        let slot = self.start(pid, file, path);
        if cacheable && !matches!(slot.peek(), Some(Err(_))) {
            self.cache.lock().unwrap_or_else(|e| e.into_inner()).put(key, slot.clone());
        }
        slot
    }

    fn start(&self, pid: u32, file: &FileId, path: Option<&str>) -> Arc<HashSlot> {
        if file.size > self.max_bytes {
            return HashSlot::done(Err(reasons::TOO_LARGE.to_string()));
        }
        let same_inode = |m: &std::fs::Metadata| m.ino() == file.ino && m.dev() == file.dev_userspace();
        let f = match File::open(format!("/proc/{pid}/exe")) {
            Ok(f) => match f.metadata() {
                // The pid may have exec'd again or been reused: only hash
                // the very inode the kernel reported.
                Ok(m) if same_inode(&m) => f,
                Ok(_) => return HashSlot::done(Err(reasons::FILE_CHANGED.to_string())),
                Err(e) => return HashSlot::done(Err(format!("stat: {e}"))),
            },
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESRCH)) => {
                // Gone already. The path is good only if it still names the
                // same inode with the size and mtime the kernel saw.
                let unchanged = |m: &std::fs::Metadata| {
                    same_inode(m)
                        && m.size() == file.size
                        && m.mtime() == file.mtime_sec
                        && m.mtime_nsec() as u32 == file.mtime_nsec
                };
                match path.filter(|_| file.nlink > 0).map(File::open) {
                    Some(Ok(f)) if f.metadata().is_ok_and(|m| unchanged(&m)) => f,
                    _ => return HashSlot::done(Err(reasons::PROCESS_EXITED.to_string())),
                }
            }
            Err(e) => return HashSlot::done(Err(format!("open: {e}"))),
        };
        let slot = Arc::new(HashSlot::default());
        if self.jobs.send(Job { file: f, slot: slot.clone() }).is_err() {
            slot.set(Err("hash workers stopped".to_string()));
        }
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn hashes_a_file_and_respects_the_cap() {
        let mut t = tempfile::NamedTempFile::new().expect("temp file");
        t.write_all(b"abc").expect("write");
        let mut f = File::open(t.path()).expect("open");
        assert_eq!(
            sha256_file(&mut f, 10),
            Ok("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_string())
        );
        let mut f = File::open(t.path()).expect("open");
        assert_eq!(sha256_file(&mut f, 2), Err(reasons::TOO_LARGE.to_string()));
    }

    fn own_exe() -> FileId {
        let m = std::fs::metadata("/proc/self/exe").expect("stat own exe");
        let dev = ((libc::major(m.dev()) as u32) << 20) | libc::minor(m.dev()) as u32;
        FileId {
            ino: m.ino(),
            dev,
            size: m.size(),
            mtime_sec: m.mtime(),
            mtime_nsec: m.mtime_nsec() as u32,
            nlink: m.nlink() as u32,
            mode: m.mode(),
        }
    }

    #[test]
    fn hashes_own_executable_through_proc_and_caches_it() {
        let hasher = ExeHasher::new(1 << 30, 16, 1);
        let id = own_exe();
        let pid = std::process::id();
        let a = hasher.request(pid, &id, None).wait(Duration::from_secs(30));
        let mut f = File::open("/proc/self/exe").expect("open");
        assert_eq!(a, sha256_file(&mut f, 1 << 30));
        let _ = hasher.request(pid, &id, None);
        assert_eq!(hasher.stats().cache_hits.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_different_inode_is_refused() {
        let hasher = ExeHasher::new(1 << 30, 16, 1);
        let mut id = own_exe();
        id.ino += 1;
        let out = hasher.request(std::process::id(), &id, None).wait(Duration::from_secs(5));
        assert_eq!(out, Err(reasons::FILE_CHANGED.to_string()));
    }

    #[test]
    fn an_exited_process_is_hashed_by_path_only_if_the_file_is_unchanged() {
        let hasher = ExeHasher::new(1 << 30, 16, 1);
        let mut t = tempfile::NamedTempFile::new().expect("temp file");
        t.write_all(b"abc").expect("write");
        let m = std::fs::metadata(t.path()).expect("stat");
        let id = FileId {
            ino: m.ino(),
            dev: ((libc::major(m.dev()) as u32) << 20) | libc::minor(m.dev()) as u32,
            size: m.size(),
            mtime_sec: m.mtime(),
            mtime_nsec: m.mtime_nsec() as u32,
            nlink: 1,
            mode: m.mode(),
        };
        let path = t.path().to_str().expect("utf-8 temp path").to_string();
        // A pid above pid_max: /proc has nothing, as for an exited process.
        let gone = 4_000_000_000;
        let out = hasher.request(gone, &id, Some(&path)).wait(Duration::from_secs(5));
        assert_eq!(out.as_deref(), Ok("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        let stale = FileId { size: 4, ..id };
        let out = hasher.request(gone, &stale, Some(&path)).wait(Duration::from_secs(5));
        assert_eq!(out, Err(reasons::PROCESS_EXITED.to_string()));
    }
}
