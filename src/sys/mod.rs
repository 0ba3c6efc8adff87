//! Every `unsafe` block of secflow, behind safe functions: the spawner and its per-attempt
//! shim (how tools are started and contained), signals, rusage, descriptors, `/proc` and
//! the few libc calls the rest of the crate needs; secrets out of the process's environment
//! block and a non-dumpable process ([`process_guard`]); files created under a directory
//! descriptor, never through a symlink ([`dirfd`]). Each block carries a `// SAFETY:` note;
//! the rest of the crate denies `unsafe_code` (Cargo.toml `[lints]`).
//!
//! Containment in the style of tini and containerd-shim: a tiny process, exec'd at start-up
//! (not forked from secflow's memory), starts every tool through a child subreaper that
//! ends whatever the tool leaves behind (see [`spawner`] and [`shim`]).
#![allow(unsafe_code)]

pub mod dirfd;
pub mod fd;
pub mod fifo;
pub mod limits;
pub mod misc;
pub mod priority;
pub mod proc;
pub mod process_guard;
pub mod rusage;
pub mod shim;
pub mod signals;
pub mod spawner;
