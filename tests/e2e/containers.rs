//! Container identity on events, with real podman containers (rootful, runc:
//! crun refuses this host's hybrid cgroup layout).

use std::process::Command;
use std::time::Duration;

use ferret_e2e::Sensor;

pub(crate) const IMAGE: &str = "localhost/ferret-busybox:test";

/// Imports a busybox-static rootfs as an image, once.
pub(crate) fn image() {
    let have = Command::new("podman").args(["image", "exists", IMAGE]).status().expect("podman");
    if have.success() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static");
    for applet in ["sh", "true", "cat", "sleep"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("symlink");
    }
    let tar = dir.path().join("root.tar");
    assert!(Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").status().expect("tar").success());
    let st = Command::new("podman").args(["import", "-q"]).arg(&tar).arg(IMAGE).status().expect("podman import");
    assert!(st.success(), "podman import");
}

/// `podman run` as this host needs it (runc: crun refuses the hybrid cgroup
/// layout; limits no higher than ours: we lack CAP_SYS_RESOURCE).
pub(crate) fn podman_run() -> Command {
    let mut c = Command::new("podman");
    c.args(["--runtime", "runc", "run", "--rm", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"]);
    c
}

#[test]
fn container_processes_carry_the_container_id_and_host_ones_none() {
    ferret_e2e::require_root();
    image();
    let dir = tempfile::tempdir().expect("tempdir");
    let cidfile = dir.path().join("cid");
    let sensor = Sensor::start(&[]);
    let out = podman_run()
        .arg("--cidfile")
        .arg(&cidfile)
        .args([IMAGE, "/bin/sh", "-c", "/bin/cat /proc/self/cgroup > /dev/null; exit 0"])
        .output()
        .expect("podman run");
    assert!(out.status.success(), "podman run: {}", String::from_utf8_lossy(&out.stderr));
    let cid = std::fs::read_to_string(&cidfile).expect("cidfile").trim().to_string();
    assert_eq!(cid.len(), 64);
    // The cat inside: its exe is the container's view of the path.
    let ev = sensor.wait_for(Duration::from_secs(30), "exec inside the container", |v| {
        v["type"] == "process_exec" && v["process"]["args"][0] == "/bin/cat" && v["container"]["id"] == cid.as_str()
    });
    assert_eq!(ev["container"]["runtime"], "podman");
    assert_eq!(ev["process"]["exe"], "/bin/busybox");
    assert!(ev["container"]["cgroup"].as_str().is_some_and(|c| c.contains(&cid)));
    // The podman CLI itself runs on the host.
    let host = sensor.wait_for(Duration::from_secs(10), "podman on the host", |v| {
        v["type"] == "process_exec" && v["process"]["exe"].as_str().is_some_and(|e| e.ends_with("/podman"))
    });
    assert_eq!(host["container"], serde_json::Value::Null);
}

#[test]
fn a_container_user_is_named_from_the_container_s_own_passwd() {
    ferret_e2e::require_root();
    image();
    // Ids the host does not have, named only inside the container.
    let dir = tempfile::tempdir().expect("tempdir");
    let passwd = dir.path().join("passwd");
    let group = dir.path().join("group");
    std::fs::write(&passwd, "root:x:0:0:root:/root:/bin/sh\nferretapp:x:4242:4343::/home/app:/bin/sh\n")
        .expect("passwd");
    std::fs::write(&group, "root:x:0:\nferretgrp:x:4343:\n").expect("group");
    // SAFETY: getpwuid with a plain id; the result is only compared with null.
    assert!(unsafe { libc::getpwuid(4242) }.is_null(), "the host must not know uid 4242");
    let sensor = Sensor::start(&[]);
    let out = podman_run()
        .arg("-v")
        .arg(format!("{}:/etc/passwd:ro", passwd.display()))
        .arg("-v")
        .arg(format!("{}:/etc/group:ro", group.display()))
        .args(["--user", "4242:4343", IMAGE, "/bin/sh", "-c", "/bin/cat /etc/passwd > /dev/null; /bin/sleep 2"])
        .output()
        .expect("podman run");
    assert!(out.status.success(), "podman run: {}", String::from_utf8_lossy(&out.stderr));
    let ev = sensor.wait_for(Duration::from_secs(30), "cat as the container's user", |v| {
        v["type"] == "process_exec" && v["process"]["args"][0] == "/bin/cat" && v["process"]["euid"] == 4242
    });
    assert!(ev["container"]["id"].is_string());
    assert_eq!(ev["process"]["user_name"], "ferretapp");
    assert_eq!(ev["process"]["group_name"], "ferretgrp");
    // Host processes are named from the host's databases.
    let host = sensor.wait_for(Duration::from_secs(10), "podman on the host", |v| {
        v["type"] == "process_exec" && v["process"]["exe"].as_str().is_some_and(|e| e.ends_with("/podman"))
    });
    assert_eq!(host["process"]["user_name"], "root");
}

/// A daemon a test started, killed when the test is done.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A containerd of the test's own (its root, state and socket in `dir`; the CRI plugin
/// off: no CNI here), with the busybox image imported into namespace `ferret-e2e`.
struct Containerd {
    _daemon: Daemon,
    socket: std::path::PathBuf,
}

const CTR_NS: &str = "ferret-e2e";

impl Containerd {
    fn start(dir: &std::path::Path) -> Containerd {
        let socket = dir.join("containerd.sock");
        let config = dir.join("containerd.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = {:?}\nstate = {:?}\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\naddress = {:?}\n[ttrpc]\naddress = {:?}\n",
                dir.join("root").display().to_string(),
                dir.join("state").display().to_string(),
                socket.display().to_string(),
                dir.join("containerd.sock.ttrpc").display().to_string()
            ),
        )
        .expect("containerd config");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("containerd (make test installs it)");
        let d = Containerd { _daemon: Daemon(child), socket };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !d.ctr().arg("version").output().is_ok_and(|o| o.status.success()) {
            assert!(std::time::Instant::now() < deadline, "containerd did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        let tar = dir.join("image.tar");
        let st = Command::new("podman")
            .args(["save", "-q", "--format", "docker-archive", "-o"])
            .arg(&tar)
            .arg(IMAGE)
            .status()
            .expect("podman save");
        assert!(st.success(), "podman save");
        let out = d.ctr().args(["images", "import"]).arg(&tar).output().expect("ctr import");
        assert!(out.status.success(), "ctr images import: {}", String::from_utf8_lossy(&out.stderr));
        d
    }

    fn ctr(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("-a").arg(&self.socket).args(["-n", CTR_NS]);
        c
    }
}

#[test]
fn containerd_metadata_comes_from_containerd_s_own_api() {
    ferret_e2e::require_root();
    image();
    let dir = tempfile::tempdir().expect("tempdir");
    let ctd = Containerd::start(dir.path());
    // Only containerd: no Docker-API socket.
    let (_cfg_dir, cfg) = ferret_e2e::config_file(&format!(
        "[containers]\nruntime_socket = {:?}\ncontainerd_socket = {:?}\n",
        dir.path().join("no-docker.sock").display().to_string(),
        ctd.socket.display().to_string()
    ));
    let sensor = Sensor::start(&["--config", cfg.to_str().expect("utf-8")]);
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&shared).expect("mkdir");
    // containerd takes any id; a 64-hex one is what its cgroup path then names.
    let id = format!("{:064x}", u128::from(std::process::id()) << 64 | 0xfe44e7);
    let out = ctd
        .ctr()
        .args(["run", "--rm", "--privileged", "--mount"])
        .arg(format!("type=bind,src={},dst=/data,options=rbind:ro", shared.display()))
        .args(["--label", "nerdctl/name=ferret-ctr", "--label", "io.kubernetes.pod.name=web-8"])
        .args(["--label", "io.kubernetes.pod.namespace=shop", IMAGE, &id])
        .args(["/bin/sh", "-c", "/bin/sleep 1; /bin/cat /proc/self/cgroup > /dev/null; exit 0"])
        .output()
        .expect("ctr run");
    assert!(out.status.success(), "ctr run: {}", String::from_utf8_lossy(&out.stderr));
    // The exec a second in: the lookup has been answered by then.
    let ev = sensor.wait_for(Duration::from_secs(30), "cat inside the containerd container", |v| {
        v["type"] == "process_exec" && v["process"]["args"][0] == "/bin/cat" && v["container"]["id"] == id.as_str()
    });
    let c = &ev["container"];
    assert_eq!(c["metadata"], "ok", "{c}");
    assert_eq!(c["runtime"], "containerd");
    assert_eq!(c["name"], "ferret-ctr");
    assert_eq!(c["image"], IMAGE);
    assert!(c["image_digest"].as_str().is_some_and(|d| d.starts_with("sha256:")), "{c}");
    assert_eq!(c["privileged"], true);
    assert_eq!(c["host_mounts"], serde_json::json!([shared.display().to_string()]));
    assert_eq!(c["pod_name"], "web-8");
    assert_eq!(c["pod_namespace"], "shop");
    assert_eq!(c["network_mode"], "private");
}

/// `podman system service` on a socket of the test's own, stopped on drop.
struct PodmanService {
    _daemon: Daemon,
    socket: std::path::PathBuf,
}

impl PodmanService {
    fn start(dir: &std::path::Path) -> PodmanService {
        let socket = dir.join("podman.sock");
        let daemon = Command::new("podman")
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("podman system service");
        // Wrapped first: a start that times out below still stops it.
        let daemon = Daemon(daemon);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !socket.exists() {
            assert!(std::time::Instant::now() < deadline, "podman API socket did not appear");
            std::thread::sleep(Duration::from_millis(100));
        }
        PodmanService { _daemon: daemon, socket }
    }
}

#[test]
fn runtime_metadata_and_kubernetes_labels_reach_the_events() {
    ferret_e2e::require_root();
    image();
    let dir = tempfile::tempdir().expect("tempdir");
    let api = PodmanService::start(dir.path());
    let (_cfg_dir, cfg) =
        ferret_e2e::config_file(&format!("[containers]\nruntime_socket = {:?}\n", api.socket.display().to_string()));
    let sensor = Sensor::start(&["--config", cfg.to_str().expect("utf-8")]);
    let name = format!("ferret-meta-{}", std::process::id());
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&shared).expect("mkdir");
    let cidfile = dir.path().join("cid");
    let out = podman_run()
        .args(["--privileged", "--name", &name])
        .args(["--label", "io.kubernetes.pod.name=web-7", "--label", "io.kubernetes.pod.namespace=shop"])
        .args(["--label", "io.kubernetes.container.name=nginx"])
        .arg("-v")
        .arg(format!("{}:/shared", shared.display()))
        .arg("--cidfile")
        .arg(&cidfile)
        // The first exec may come before the lookup answers; the last, a
        // second later, must carry everything.
        .args([IMAGE, "/bin/sh", "-c", "/bin/true; /bin/sleep 3; /bin/cat /proc/self/cgroup > /dev/null"])
        .output()
        .expect("podman run");
    assert!(out.status.success(), "podman run: {}", String::from_utf8_lossy(&out.stderr));
    let cid = std::fs::read_to_string(&cidfile).expect("cidfile").trim().to_string();
    let ev = sensor.wait_for(Duration::from_secs(30), "an exec in the container with its metadata", |v| {
        v["type"] == "process_exec"
            && v["process"]["args"][0] == "/bin/cat"
            && v["container"]["id"] == cid.as_str()
            && v["container"]["metadata"] == "ok"
    });
    let c = &ev["container"];
    assert_eq!(c["metadata"], "ok", "{c}");
    assert_eq!(c["name"], name.as_str());
    assert_eq!(c["image"], IMAGE);
    assert_eq!(c["image_repository"], "localhost/ferret-busybox");
    assert_eq!(c["image_tag"], "test");
    assert_eq!(c["privileged"], true);
    assert_eq!(c["pod_name"], "web-7");
    assert_eq!(c["pod_namespace"], "shop");
    assert_eq!(c["k8s_container_name"], "nginx");
    assert!(c["host_mounts"].as_array().is_some_and(|m| m.iter().any(|p| p == shared.to_str().expect("utf-8"))), "{c}");
    // Every event of that container either has the metadata or says it is pending.
    let (_, _, recs) = sensor.stop();
    for v in recs.iter().filter(|v| v["container"]["id"] == cid.as_str()) {
        let m = v["container"]["metadata"].as_str().unwrap_or_default();
        assert!(m == "ok" || m == "pending", "{m}");
    }
}

#[test]
fn drift_exec_into_a_running_container_and_its_init() {
    ferret_e2e::require_root();
    image();
    let dir = tempfile::tempdir().expect("tempdir");
    let cidfile = dir.path().join("cid");
    let sensor = Sensor::start(&[]);
    let run = podman_run()
        .arg("-d")
        .arg("--cidfile")
        .arg(&cidfile)
        // A binary written inside the container, then run: drift.
        .args([
            IMAGE,
            "/bin/sh",
            "-c",
            "/bin/cat /bin/busybox > /bb; /bin/sh -c 'chmod 755 /bb' ; /bb true; /bin/sleep 30; exit 0",
        ])
        .output()
        .expect("podman run -d");
    assert!(run.status.success(), "podman run: {}", String::from_utf8_lossy(&run.stderr));
    let cid = std::fs::read_to_string(&cidfile).expect("cidfile").trim().to_string();
    let exec = Command::new("podman")
        .args(["--runtime", "runc", "exec", &cid, "/bin/cat", "/proc/self/cgroup"])
        .output()
        .expect("podman exec");
    let _ = Command::new("podman").args(["rm", "-f", "-t", "0", &cid]).output();
    assert!(exec.status.success(), "podman exec: {}", String::from_utf8_lossy(&exec.stderr));

    let in_container = |v: &serde_json::Value| v["type"] == "process_exec" && v["container"]["id"] == cid.as_str();
    let drift = sensor.wait_for(Duration::from_secs(30), "the written binary run", |v| {
        in_container(v) && v["process"]["exe"] == "/bb"
    });
    assert_eq!(drift["process"]["exe_upper_layer"], true);
    // ...and the built-in rules make it a finding, with the container attached.
    let f = sensor.wait_for_finding(Duration::from_secs(10), "NewBinaryExecuted", |v| {
        v["type"] == "Execution:Runtime/NewBinaryExecuted" && v["process"]["pid"] == drift["process"]["pid"]
    });
    assert_eq!(f["container"]["id"], cid.as_str());
    assert_eq!(f["severity"], "high");
    let image_bin = sensor.wait_for(Duration::from_secs(10), "a binary from the image", |v| {
        in_container(v) && v["process"]["args"][0] == "/bin/sleep"
    });
    assert_eq!(image_bin["process"]["exe_upper_layer"], false);
    let init = sensor.wait_for(Duration::from_secs(10), "the container's init", |v| {
        in_container(v) && v["process"]["args"][0] == "/bin/sh" && v["process"]["ns_pid"] == 1
    });
    assert_eq!(init["process"]["container_init"], true);
    assert_eq!(init["process"]["container_init_tree"], true);
    assert_eq!(image_bin["process"]["container_init"], false, "sleep was forked by init");
    assert_eq!(image_bin["process"]["container_init_tree"], true, "...so it descends from it");
    // A file written on the container's overlay root: the path as the
    // container sees it, resolved by the kernel.
    let write = sensor.wait_for(Duration::from_secs(10), "the write of /bb", |v| {
        v["type"] == "file_open" && v["container"]["id"] == cid.as_str() && v["file"]["path"] == "/bb"
    });
    assert_eq!(write["file"]["path_source"], "kernel");
    assert!(write["file"]["flags"].as_array().is_some_and(|f| f.contains(&serde_json::Value::from("O_CREAT"))));
    // `podman exec` joins the running container: same id, but not from its init.
    let entered = sensor.wait_for(Duration::from_secs(10), "podman exec's process", |v| {
        in_container(v) && v["process"]["args"][0] == "/bin/cat" && v["process"]["args"][1] == "/proc/self/cgroup"
    });
    assert_eq!(entered["process"]["container_init_tree"], false);
    assert_eq!(entered["process"]["container_init"], false);
}

#[test]
fn dns_from_inside_a_container_carries_the_container() {
    ferret_e2e::require_root();
    image();
    let server = Command::new("dnsmasq")
        .args(["--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces", "--port=53"])
        .args(["--listen-address=127.0.0.81", "--address=/box.ferret.test/10.1.1.1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("dnsmasq");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(server);
    std::thread::sleep(Duration::from_millis(500));
    let dir = tempfile::tempdir().expect("tempdir");
    let cidfile = dir.path().join("cid");
    let sensor = Sensor::start(&[]);
    // The host's network namespace, so the container reaches our loopback server.
    let out = podman_run()
        .args(["--network", "host"])
        .arg("--cidfile")
        .arg(&cidfile)
        .args([IMAGE, "/bin/busybox", "nslookup", "-type=a", "box.ferret.test", "127.0.0.81"])
        .output()
        .expect("podman run");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("10.1.1.1"),
        "nslookup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cid = std::fs::read_to_string(&cidfile).expect("cidfile").trim().to_string();
    let q = sensor.wait_for(Duration::from_secs(20), "query from the container", |v| {
        v["type"] == "dns_query" && v["dns"]["questions"][0]["name"] == "box.ferret.test."
    });
    assert_eq!(q["container"]["id"], cid.as_str());
    let r = sensor.wait_for(Duration::from_secs(20), "answer in the container", |v| {
        v["type"] == "dns_response" && v["dns"]["answers"][0]["data"] == "10.1.1.1"
    });
    assert_eq!(r["container"]["id"], cid.as_str());
}

#[test]
fn a_container_reaching_the_runtime_socket_is_a_finding() {
    ferret_e2e::require_root();
    image();
    let dir = tempfile::tempdir().expect("tempdir");
    // A static client (the image has none) and a listening unix socket standing in for the
    // runtime's API, mounted where containers find the Docker socket.
    let client = dir.path().join("unix-connect");
    let helper = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("helpers/unix_connect.c");
    let st = Command::new("gcc").args(["-O1", "-static", "-o"]).arg(&client).arg(&helper).status().expect("gcc");
    assert!(st.success(), "gcc -static");
    // The kernel reports the name the socket was bound to on the host (where Docker binds its own:
    // .../docker.sock), whatever path the container reaches it by.
    let sock = dir.path().join("docker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind unix socket");
    let accept = std::thread::spawn(move || {
        let _ = listener.accept();
    });
    let sensor = Sensor::start(&[]);
    let out = podman_run()
        .arg("-v")
        .arg(format!("{}:/var/run/docker.sock", sock.display()))
        .arg("-v")
        .arg(format!("{}:/unix-connect:ro", client.display()))
        .args([IMAGE, "/unix-connect", "/var/run/docker.sock"])
        .output()
        .expect("podman run");
    assert!(out.status.success(), "podman run: {}", String::from_utf8_lossy(&out.stderr));
    let _ = accept.join();
    let f = sensor.wait_for_finding(Duration::from_secs(30), "DockerSocketAccessed", |v| {
        v["type"] == "PrivilegeEscalation:Runtime/DockerSocketAccessed"
    });
    assert_eq!(f["process"]["comm"], "unix-connect");
    assert_eq!(f["evidence"][0]["net"]["remote"]["path"], sock.to_str().unwrap_or(""));
    assert!(f["container"]["id"].as_str().is_some_and(|id| id.len() == 64), "{f}");
    let (status, _, recs) = sensor.stop();
    assert!(status.success());
    let n = recs
        .iter()
        .filter(|v| v["kind"] == "finding" && v["type"] == "PrivilegeEscalation:Runtime/DockerSocketAccessed")
        .map(|v| v["id"].clone())
        .collect::<std::collections::HashSet<_>>()
        .len();
    assert_eq!(n, 1);
}

#[test]
fn a_mount_inside_a_privileged_container_is_a_finding() {
    ferret_e2e::require_root();
    image();
    let sensor = Sensor::start(&[]);
    let out = podman_run()
        .arg("--privileged")
        .args([IMAGE, "/bin/sh", "-c", "/bin/busybox mkdir /m && /bin/busybox mount -t tmpfs none /m"])
        .output()
        .expect("podman run");
    assert!(out.status.success(), "podman run: {}", String::from_utf8_lossy(&out.stderr));
    let f = sensor.wait_for_finding(Duration::from_secs(30), "ContainerMountsHostDirectory", |v| {
        v["type"] == "PrivilegeEscalation:Runtime/ContainerMountsHostDirectory"
    });
    assert_eq!(f["process"]["comm"], "busybox");
    assert_eq!(f["evidence"][0]["file"]["path"], "/m");
    let (status, _, recs) = sensor.stop();
    assert!(status.success());
    // The runtime's own mounts while it sets the container up are not findings.
    let by_runtime = recs.iter().filter(|v| {
        v["kind"] == "finding"
            && v["type"] == "PrivilegeEscalation:Runtime/ContainerMountsHostDirectory"
            && v["process"]["comm"] != "busybox"
    });
    assert_eq!(by_runtime.count(), 0);
}

#[test]
fn a_library_written_in_the_container_and_mapped_executable_is_a_finding() {
    ferret_e2e::require_root();
    image();
    let dir = tempfile::tempdir().expect("tempdir");
    let mapper = dir.path().join("mmap-exec");
    let helper = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("helpers/mmap_exec.c");
    let st = Command::new("gcc").args(["-O1", "-static", "-o"]).arg(&mapper).arg(&helper).status().expect("gcc");
    assert!(st.success(), "gcc -static");
    let sensor = Sensor::start(&[]);
    // The "library" is written inside the container (upper layer), then mapped by a program
    // that is not (a read-only bind mount from the host).
    let out = podman_run()
        .arg("-v")
        .arg(format!("{}:/mmap-exec:ro", mapper.display()))
        .args([
            IMAGE,
            "/bin/sh",
            "-c",
            "/bin/cat /bin/busybox > /libevil.so; /mmap-exec /libevil.so; /mmap-exec /bin/busybox",
        ])
        .output()
        .expect("podman run");
    assert!(out.status.success(), "podman run: {}", String::from_utf8_lossy(&out.stderr));
    let f = sensor.wait_for_finding(Duration::from_secs(30), "NewLibraryLoaded", |v| {
        v["type"] == "Execution:Runtime/NewLibraryLoaded"
    });
    assert_eq!(f["evidence"][0]["file"]["path"], "/libevil.so");
    assert_eq!(f["evidence"][0]["file"]["upper_layer"], true);
    assert_eq!(f["process"]["comm"], "mmap-exec");
    let (status, _, recs) = sensor.stop();
    assert!(status.success());
    // The image's own busybox, mapped the same way, is not a finding.
    let libs: Vec<&serde_json::Value> =
        recs.iter().filter(|v| v["kind"] == "finding" && v["type"] == "Execution:Runtime/NewLibraryLoaded").collect();
    assert_eq!(libs.len(), 1, "{libs:#?}");
}
