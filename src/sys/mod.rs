//! Every `unsafe` of the crate: thin, documented wrappers over the system calls secflow
//! needs, each block with a `// SAFETY:` comment. The rest of the crate calls these safe
//! functions and holds no `unsafe` of its own.
//!
//! - [`process_guard`]: secrets out of the process's environment block, non-dumpable.
//! - [`dirfd`]: files created under a directory descriptor, never through a symlink.

pub mod dirfd;
pub mod process_guard;
