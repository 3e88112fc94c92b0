//! `envi`: ZooKeeper's `Environment.list()`, with the keys ZooKeeper prints and the
//! values of this process. zk-rs has no JVM, so the `java.*` keys describe the zk-rs
//! runtime instead: `java.version` is the zk-rs version, `java.vendor` is `zk-rs`,
//! `java.home` the executable's directory, `java.class.path` the executable,
//! `java.library.path` `$LD_LIBRARY_PATH`. The `os.memory.*` keys (a JVM's heap) are the
//! machine's available memory (`free`), its physical memory (`max`) and this process's
//! resident memory (`total`), in whole MB.

use super::sys;

/// What `envi` prints, in order.
pub(crate) fn gather(version: &str) -> Vec<(&'static str, String)> {
    let na = || "<NA>".to_string();
    // Linux marks a replaced executable "(deleted)"; the path is what matters.
    let exe = std::env::current_exe().ok().map(|e| {
        let s = e.display().to_string();
        std::path::PathBuf::from(s.strip_suffix(" (deleted)").unwrap_or(&s))
    });
    let (user, home) = sys::user();
    let mb = |b: u64| format!("{}MB", b / (1024 * 1024));
    let memory = sys::memory();
    vec![
        ("zookeeper.version", version.to_string()),
        ("host.name", sys::host_name().unwrap_or_else(na)),
        ("java.version", env!("CARGO_PKG_VERSION").to_string()),
        ("java.vendor", "zk-rs".to_string()),
        (
            "java.home",
            exe.as_deref()
                .and_then(|e| e.parent())
                .map_or_else(na, |p| p.display().to_string()),
        ),
        (
            "java.class.path",
            exe.as_deref().map_or_else(na, |e| e.display().to_string()),
        ),
        (
            "java.library.path",
            std::env::var("LD_LIBRARY_PATH").unwrap_or_else(|_| na()),
        ),
        ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
        ("java.compiler", na()),
        ("os.name", os_name().to_string()),
        ("os.arch", os_arch().to_string()),
        ("os.version", sys::os_release().unwrap_or_else(na)),
        ("user.name", user.unwrap_or_else(na)),
        ("user.home", home.unwrap_or_else(na)),
        (
            "user.dir",
            std::env::current_dir().map_or_else(|_| na(), |d| d.display().to_string()),
        ),
        (
            "os.memory.free",
            memory.map_or_else(na, |(_, avail)| mb(avail)),
        ),
        (
            "os.memory.max",
            memory.map_or_else(na, |(total, _)| mb(total)),
        ),
        ("os.memory.total", sys::resident().map_or_else(na, mb)),
    ]
}

/// Java's `os.name`.
fn os_name() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Mac OS X",
        "windows" => "Windows",
        "freebsd" => "FreeBSD",
        other => other,
    }
}

/// Java's `os.arch`.
fn os_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        other => other,
    }
}

/// `EnvCommand`: `Environment:` then `key=value` lines.
pub(crate) fn render(entries: &[(&'static str, String)]) -> String {
    let mut out = String::from("Environment:\n");
    for (k, v) in entries {
        out.push_str(k);
        out.push('=');
        out.push_str(v);
        out.push('\n');
    }
    out
}
