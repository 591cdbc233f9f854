//! `ferret doctor`: what this kernel and host allow, tried for real, and what
//! ferret does about each gap.

use std::process::ExitCode;

use ferret_bpf::probe::{self, HostFacts, ProbeResult, Status};
use serde_json::{json, Value};

use crate::run::EXIT_CANNOT_RUN;

fn status_json(s: &Status) -> Value {
    match s {
        Status::Ok => json!({"ok": true}),
        Status::Unavailable(why) => json!({"ok": false, "reason": why}),
    }
}

fn status_text(s: &Status) -> String {
    match s {
        Status::Ok => "ok".to_string(),
        Status::Unavailable(why) => format!("NO: {why}"),
    }
}

/// The verdict: None if ferret can run, else why not.
fn verdict(facts: &HostFacts, probes: &[ProbeResult]) -> Option<String> {
    if let Some(why) = probe::missing_requirement(facts) {
        return Some(why);
    }
    probes
        .iter()
        .find(|p| p.required && !p.status.is_ok())
        .map(|p| format!("required program type {} unavailable", p.name))
}

pub fn doctor(as_json: bool) -> ExitCode {
    let mut facts = probe::host_facts();
    let mut mount_errors = Vec::new();
    if facts.privileges.is_ok() && (!facts.tracefs.is_ok() || !facts.bpffs.is_ok() || facts.lockdown.is_none()) {
        mount_errors = probe::mount_pseudo_filesystems();
        facts = probe::host_facts();
    }
    // Loading programs needs privileges; without them every probe would fail
    // for the same reason, which says nothing about the kernel.
    let probes = if facts.privileges.is_ok() { probe::probe_all() } else { Vec::new() };
    let verdict = verdict(&facts, &probes);
    // Read here rather than in host_facts, which `run` calls at start-up: the loader reads it once.
    let tick_hz = probe::kernel_hz();

    if as_json {
        let out = json!({
            "kernel": facts.kernel_release,
            "btf": status_json(&facts.btf),
            "tracefs": status_json(&facts.tracefs),
            "bpffs": status_json(&facts.bpffs),
            "lockdown": facts.lockdown,
            "cgroup": {"layout": facts.cgroup_layout, "v2_root": facts.cgroup2_root},
            "privileges": status_json(&facts.privileges),
            "tick_hz": tick_hz,
            "mount_errors": mount_errors,
            "programs": probes.iter().map(|p| json!({
                "name": p.name,
                "ok": p.status.is_ok(),
                "reason": match &p.status { Status::Ok => Value::Null, Status::Unavailable(w) => json!(w) },
                "required": p.required,
                "role": p.role,
            })).collect::<Vec<_>>(),
            "syscalls": ferret_bpf::loader::SYSCALL_HOOKS.iter().map(|(_, n, _)| *n).collect::<Vec<_>>(),
            "can_run": verdict.is_none(),
            "reason": verdict,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!("ferret doctor");
        println!("  kernel         {}", facts.kernel_release);
        println!("  privileges     {}", status_text(&facts.privileges));
        println!("  BTF            {}", status_text(&facts.btf));
        println!("  tracefs        {}", status_text(&facts.tracefs));
        println!("  bpffs          {}", status_text(&facts.bpffs));
        println!("  lockdown       {}", facts.lockdown.as_deref().unwrap_or("unknown (securityfs not mounted)"));
        println!(
            "  cgroup         {}{}",
            facts.cgroup_layout,
            facts.cgroup2_root.as_ref().map(|p| format!(" (v2 at {})", p.display())).unwrap_or_default()
        );
        match tick_hz {
            Some(hz) => println!("  tick           {hz} Hz (the repeat filter keeps time in jiffies; TCP flow times use TCP's own recent clock readings)"),
            None => println!(
                "  tick           unknown (no /proc/config.gz or /boot/config-*): the repeat filter and the TCP flow records read the clock, a little slower"
            ),
        }
        for e in &mount_errors {
            println!("  mount          {e}");
        }
        if probes.is_empty() {
            println!("  programs       not tried (no privileges)");
        } else {
            println!("  programs (loaded and attached for real):");
            for p in &probes {
                let need = if p.required { "required" } else { "optional" };
                println!("    {:<20} {:<8} {:<48} {}", p.name, need, status_text(&p.status), p.role);
            }
        }
        let names: Vec<&str> = ferret_bpf::loader::SYSCALL_HOOKS.iter().map(|(_, n, _)| *n).collect();
        println!("  syscalls watched ({}, with their ia32 forms on x86_64): {}", names.len(), names.join(" "));
        #[cfg(target_arch = "x86_64")]
        {
            let special: Vec<&str> = ferret_bpf::loader::IA32_SPECIAL.iter().map(|(_, n, _)| *n).collect();
            println!(
                "  ia32 also: {} (the multiplexers decoded into the calls they stand for; failed execs as exec events)",
                special.join(" ")
            );
        }
        match &verdict {
            None => println!("verdict: ferret can run here"),
            Some(why) => println!("verdict: ferret cannot run here: {why}"),
        }
    }
    if verdict.is_some() {
        ExitCode::from(EXIT_CANNOT_RUN)
    } else {
        ExitCode::SUCCESS
    }
}
