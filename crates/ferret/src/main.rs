//! `ferret`: eBPF runtime threat detection for Linux hosts and containers.
//! See README.md for usage and DESIGN.md for the architecture.

mod config;
mod doctor;
mod findings;
mod output;
mod raw;
mod replay;
mod rules_cmd;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::Config;

#[derive(Parser, Debug)]
#[command(name = "ferret", version, about = "eBPF runtime threat detection for Linux hosts and containers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the sensor: load the eBPF programs and emit findings (and events).
    Run {
        /// Emit every event, not only findings.
        #[arg(long)]
        events: bool,
        /// Append JSON lines to this file (repeatable); stdout is still written.
        #[arg(long = "output", value_name = "PATH")]
        outputs: Vec<PathBuf>,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECS")]
        duration: Option<f64>,
        /// Configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Do not write to stdout (only to --output files).
        #[arg(long)]
        quiet: bool,
        /// Rule file or directory (repeatable, loaded in order after `rules.paths` of the configuration).
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        /// Do not load ferret's built-in rules.
        #[arg(long)]
        no_default_rules: bool,
    },
    /// Validate, list and test rule files (Falco or Sigma, recognised by content).
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Show what this kernel and host allow and what ferret will use.
    Doctor {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Record the enriched event stream to a file (JSON lines), or with --raw the kernel's records.
    Record {
        /// File to write (JSON: appended; raw: replaced).
        #[arg(long = "output", value_name = "PATH", required = true)]
        output: PathBuf,
        /// Write the kernel's records as delivered (replayed through the whole pipeline,
        /// enrichment included, by `replay --raw`).
        #[arg(long)]
        raw: bool,
        #[arg(long, value_name = "SECS")]
        duration: Option<f64>,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Run detection over recorded event files, with no kernel involved.
    Replay {
        /// Recorded files, replayed in order.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Re-emit every event, not only findings.
        #[arg(long)]
        events: bool,
        #[arg(long = "output", value_name = "PATH")]
        outputs: Vec<PathBuf>,
        #[arg(long)]
        quiet: bool,
        /// Rule file or directory (repeatable, loaded in order).
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        /// Do not load ferret's built-in rules.
        #[arg(long)]
        no_default_rules: bool,
        /// Configuration whose rules, threat lists, DGA and aggregation settings apply.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The inputs are raw recordings (`record --raw`): decode and enrich them too.
        #[arg(long)]
        raw: bool,
    },
}

#[derive(Subcommand, Debug)]
enum RulesCommand {
    /// Load rule files and directories; per file: rules loaded, rules not active and why, errors
    /// with file:line:col. Exits 1 on any error.
    Check {
        /// Rule files and directories; none: the built-in rules.
        paths: Vec<PathBuf>,
        /// Also print warnings (fields ferret does not capture, unknown keys).
        #[arg(long)]
        verbose: bool,
    },
    /// List the active rules: format, severity, event types, name, file:line:col.
    List {
        /// Rule files and directories; none: the built-in rules.
        paths: Vec<PathBuf>,
    },
    /// Run fixture events (JSON lines: name, expect, event) through the rules.
    Test {
        /// Rule file or directory (repeatable).
        #[arg(long = "rules", value_name = "PATH", required = true)]
        rules: Vec<PathBuf>,
        #[arg(required = true)]
        fixtures: Vec<PathBuf>,
    },
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Config::load(p),
        None => Ok(Config::default()),
    }
}

fn duration(secs: Option<f64>) -> anyhow::Result<Option<Duration>> {
    secs.map(|s| {
        Duration::try_from_secs_f64(s)
            .map_err(|_| anyhow::anyhow!("--duration must be a non-negative number of seconds, not {s}"))
    })
    .transpose()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { events, outputs, duration: secs, config, quiet, rules, no_default_rules } => (|| {
            let mut cfg = load_config(config.as_ref())?;
            cfg.rules.paths.extend(rules);
            cfg.rules.defaults &= !no_default_rules;
            cfg.output.events |= events;
            cfg.output.files.extend(outputs);
            if quiet {
                cfg.output.stdout = false;
            }
            run::run(run::RunOptions { config: cfg, duration: duration(secs)?, raw: None })
        })(),
        Command::Record { output, raw, duration: secs, config } => (|| {
            let mut cfg = load_config(config.as_ref())?;
            cfg.output.stdout = false;
            if raw {
                cfg.output.events = false;
                cfg.output.files = Vec::new();
                return run::run(run::RunOptions { config: cfg, duration: duration(secs)?, raw: Some(output) });
            }
            cfg.output.events = true;
            cfg.output.files = vec![output];
            run::run(run::RunOptions { config: cfg, duration: duration(secs)?, raw: None })
        })(),
        Command::Doctor { json } => Ok(doctor::doctor(json)),
        Command::Replay { inputs, events, outputs, quiet, rules, no_default_rules, config, raw } => (|| {
            let mut cfg = load_config(config.as_ref())?;
            cfg.rules.paths.extend(rules);
            cfg.rules.defaults &= !no_default_rules;
            replay::replay(&replay::ReplayOptions { inputs, events, stdout: !quiet, outputs, config: cfg, raw })
        })(),
        Command::Rules { command } => match command {
            RulesCommand::Check { paths, verbose } => rules_cmd::check(&paths, verbose),
            RulesCommand::List { paths } => rules_cmd::list(&paths),
            RulesCommand::Test { rules, fixtures } => rules_cmd::test(&rules, &fixtures),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ferret: {e:#}");
            ExitCode::from(1)
        }
    }
}
