//! Container identity on events, with real podman containers (rootful, runc:
//! crun refuses this host's hybrid cgroup layout).

use std::process::Command;
use std::time::Duration;

use ferret_e2e::Sensor;

const IMAGE: &str = "localhost/ferret-busybox:test";

/// Imports a busybox-static rootfs as an image, once.
fn image() {
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

#[test]
fn container_processes_carry_the_container_id_and_host_ones_none() {
    ferret_e2e::require_root();
    image();
    let dir = tempfile::tempdir().expect("tempdir");
    let cidfile = dir.path().join("cid");
    let sensor = Sensor::start(&[]);
    let out = Command::new("podman")
        .args(["--runtime", "runc", "run", "--rm", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"])
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
