//! Znode path rules (`org.apache.zookeeper.common.PathUtils`).

/// Whether `path` is a valid znode path by ZooKeeper's `PathUtils.validatePath`.
///
/// ZooKeeper checks UTF-16 code units; a character outside the Basic Multilingual Plane is
/// a surrogate pair there and so always invalid, which this mirrors.
pub fn validate_path(path: &str) -> Result<(), &'static str> {
    let chars: Vec<char> = path.chars().collect();
    if chars.is_empty() {
        return Err("path length must be > 0");
    }
    if chars[0] != '/' {
        return Err("path must start with / character");
    }
    if chars.len() == 1 {
        return Ok(());
    }
    if chars[chars.len() - 1] == '/' {
        return Err("path must not end with / character");
    }
    let mut lastc = '/';
    for i in 1..chars.len() {
        let c = chars[i];
        let next_is_end_or_slash = i + 1 == chars.len() || chars[i + 1] == '/';
        if c == '\0' {
            return Err("null character not allowed");
        } else if c == '/' && lastc == '/' {
            return Err("empty node name specified");
        } else if c == '.' && lastc == '.' {
            if i >= 2 && chars[i - 2] == '/' && next_is_end_or_slash {
                return Err("relative paths not allowed");
            }
        } else if c == '.' {
            if chars[i - 1] == '/' && next_is_end_or_slash {
                return Err("relative paths not allowed");
            }
        } else if ('\u{1}'..='\u{1f}').contains(&c)
            || ('\u{7f}'..='\u{9f}').contains(&c)
            || ('\u{e000}'..='\u{f8ff}').contains(&c)
            || ('\u{fff0}'..='\u{ffff}').contains(&c)
            || u32::from(c) > 0xffff
        {
            return Err("invalid character");
        }
        lastc = c;
    }
    Ok(())
}

/// Splits `path` at its last `/` into (parent, child name), as ZooKeeper does with
/// `lastIndexOf('/')`; the parent of a top-level node is `/`. `None` if there is no `/`.
pub(crate) fn split(path: &str) -> Option<(&str, &str)> {
    let at = path.rfind('/')?;
    let parent = if at == 0 { "/" } else { &path[..at] };
    Some((parent, &path[at + 1..]))
}

/// ZooKeeper's special nodes, which cannot be deleted (`DataTree.isSpecialPath`).
pub fn is_special_path(path: &str) -> bool {
    matches!(
        path,
        "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
    )
}

/// The length of `path` in UTF-16 code units, as Java's `String.length()` counts it.
pub(crate) fn java_len(path: &str) -> u64 {
    path.encode_utf16().count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rules() {
        for ok in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/..a",
            "/a/...",
            "/zoo keeper",
            "/\u{e9}",
        ] {
            assert_eq!(validate_path(ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/..",
            "/a/./b",
            "/a/../b",
            "/a\0",
            "/\u{1}",
            "/\u{7f}",
            "/\u{e000}",
            "/\u{fff0}",
            "/\u{1f600}",
        ] {
            assert!(validate_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(split("/a"), Some(("/", "a")));
        assert_eq!(split("/a/b"), Some(("/a", "b")));
        assert_eq!(split("/"), Some(("/", "")));
        assert_eq!(split("x"), None);
    }
}
