//! What the operating system says about this process, read from `/proc` (Linux); every
//! reader returns `None` where that is not available.

use std::fs;
use std::path::Path;

/// Open file descriptors of this process (mntr's `zk_open_file_descriptor_count`).
pub(crate) fn open_fds() -> Option<u64> {
    // The directory handle read_dir holds is one of the entries, as Java's count has it.
    Some(fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// The soft limit on open files (mntr's `zk_max_file_descriptor_count`).
pub(crate) fn max_fds() -> Option<u64> {
    max_fds_from(&fs::read_to_string("/proc/self/limits").ok()?)
}

fn max_fds_from(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

/// A `/proc` file's content, trimmed.
fn proc_text(path: &str) -> Option<String> {
    let s = fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// The host name.
pub(crate) fn host_name() -> Option<String> {
    proc_text("/proc/sys/kernel/hostname")
}

/// The kernel release (Java's `os.version`).
pub(crate) fn os_release() -> Option<String> {
    proc_text("/proc/sys/kernel/osrelease")
}

/// A `kB` field of a `/proc` status-like file, in bytes.
fn kb_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// Physical memory and what is still available to processes, in bytes.
pub(crate) fn memory() -> Option<(u64, u64)> {
    let m = fs::read_to_string("/proc/meminfo").ok()?;
    Some((kb_field(&m, "MemTotal:")?, kb_field(&m, "MemAvailable:")?))
}

/// This process's resident memory, in bytes.
pub(crate) fn resident() -> Option<u64> {
    kb_field(&fs::read_to_string("/proc/self/status").ok()?, "VmRSS:")
}

/// The user this process runs as and its home directory, from `/etc/passwd`, falling
/// back to `$USER` and `$HOME`.
pub(crate) fn user() -> (Option<String>, Option<String>) {
    let from_passwd = || -> Option<(String, String)> {
        let status = fs::read_to_string("/proc/self/status").ok()?;
        let uid = status
            .lines()
            .find(|l| l.starts_with("Uid:"))?
            .split_whitespace()
            .nth(1)?
            .to_string();
        let passwd = fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2] == uid).then(|| (f[0].to_string(), f[5].to_string()))
        })
    };
    match from_passwd() {
        Some((name, home)) => (Some(name), Some(home)),
        None => (std::env::var("USER").ok(), std::env::var("HOME").ok()),
    }
}

/// ZooKeeper's `getDirSize`: the sizes of every file below `dir`, recursively (symbolic
/// links are not followed); 0 when it cannot be read.
pub(crate) fn dir_size(dir: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries.flatten().map(|e| dir_size(&e.path())).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_give_the_soft_open_files_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             127409               127409               processes \n\
                      Max open files            20000                1048576              files     \n";
        assert_eq!(max_fds_from(limits), Some(20000));
        assert_eq!(max_fds_from("nothing"), None);
    }

    #[test]
    fn dir_size_sums_files_recursively() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), [0u8; 10]).unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/b"), [0u8; 5]).unwrap();
        assert_eq!(dir_size(dir.path()), 15);
        assert_eq!(dir_size(&dir.path().join("missing")), 0);
    }

    #[test]
    fn this_process_is_visible_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(open_fds().is_some_and(|n| n > 0));
            assert!(max_fds().is_some());
            assert!(resident().is_some());
        }
    }
}
