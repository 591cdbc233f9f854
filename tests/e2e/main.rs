//! End-to-end tests against the real kernel: each starts the real `ferret`
//! binary, runs real programs, and asserts on the exact events. Root only.

mod benign;
mod cli;
mod containers;
mod detections;
mod dns;
mod flows;
mod process;
mod rules;
mod syscalls;
