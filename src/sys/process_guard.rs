//! Start-up hardening of the secflow process itself (SPEC §10 "The audit key is out of the
//! nodes' reach").
//!
//! [`take_env_var`] reads a variable, then overwrites its bytes in the process's initial
//! environment block and removes it from `environ`: `unsetenv` alone is not enough, because
//! the kernel shows the original block in `/proc/<pid>/environ` to anyone allowed to read it
//! (root always is). [`set_undumpable`] sets `PR_SET_DUMPABLE 0`, which closes
//! `/proc/<pid>/environ` and `/proc/<pid>/mem` to non-root processes of the same user.
//!
//! Both must run at the very top of `main`, before any thread exists: `environ` is not
//! thread-safe, and nothing may have copied the variable yet.

use std::ffi::{CStr, OsString};
use std::os::unix::ffi::OsStringExt as _;

/// Reads `name` from the environment, wipes every `name=…` entry in place (the bytes the
/// kernel shows in `/proc/self/environ`) and removes it from `environ`. Returns the first
/// value found. Call only while the process is single-threaded.
pub fn take_env_var(name: &str) -> Option<OsString> {
    let prefix = format!("{name}=");
    let mut value = None;
    // Every `name=…` entry: where its bytes are, and how many.
    let mut entries: Vec<(*mut libc::c_char, usize)> = Vec::new();
    // SAFETY: called at start-up while the process has one thread, so nothing else reads or
    // changes `environ` meanwhile. `environ` is a NULL-terminated array of pointers to
    // NUL-terminated strings owned by the process; each is valid for reads up to its NUL.
    unsafe {
        let mut entry = libc::environ;
        while !entry.is_null() && !(*entry).is_null() {
            let bytes = CStr::from_ptr(*entry).to_bytes();
            if bytes.starts_with(prefix.as_bytes()) {
                if value.is_none() {
                    value = Some(OsString::from_vec(bytes[prefix.len()..].to_vec()));
                }
                entries.push((*entry, bytes.len()));
            }
            entry = entry.add(1);
        }
    }
    if entries.is_empty() {
        return None;
    }
    // First out of `environ` (unsetenv matches entries by name, so before the name is
    // wiped), then the bytes themselves.
    // SAFETY: single-threaded (see above); `remove_var` is unsafe only because other
    // threads could read the environment concurrently.
    unsafe { std::env::remove_var(name) };
    for (ptr, len) in entries {
        // SAFETY: `ptr` points to `len` bytes of an environment string that unsetenv only
        // unlinked: the initial block on the stack, or a string libc allocated and never
        // frees. Volatile, so the writes (read by the kernel, never by us) are not elided.
        unsafe {
            for i in 0..len {
                std::ptr::write_volatile(ptr.add(i), 0);
            }
        }
    }
    value
}

/// `prctl(PR_SET_DUMPABLE, 0)`: no core dumps, and `/proc/self/{environ,mem,…}` readable by
/// root only. A tool the process later execs starts dumpable again (execve resets it).
pub fn set_undumpable() -> std::io::Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes one integer argument and touches no memory of ours.
    let r = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether the process is dumpable (`PR_GET_DUMPABLE`), for tests and diagnostics.
pub fn is_dumpable() -> bool {
    // SAFETY: PR_GET_DUMPABLE takes no argument and touches no memory of ours.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) == 1 }
}

/// The effective user id of this process (`geteuid`).
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undumpable_sticks() {
        set_undumpable().unwrap();
        assert!(!is_dumpable());
    }
}
