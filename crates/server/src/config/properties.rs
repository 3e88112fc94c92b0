//! Java properties syntax, as `zoo.cfg` uses it: `key=value`, `key: value` or `key value`;
//! `#` and `!` comments; a trailing backslash continues the line.

use super::{ConfigError, Location};
use std::path::Path;

/// One `key=value` entry and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) line: usize,
    pub(crate) key: String,
    pub(crate) value: String,
}

pub(crate) fn parse(path: &Path, text: &str) -> Result<Vec<Entry>, ConfigError> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim_start();
        let (start, mut logical) = match pending.take() {
            Some((start, acc)) => (start, acc + trimmed),
            None => {
                if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
                    continue;
                }
                (line_no, trimmed.to_string())
            }
        };
        if logical.ends_with('\\') && !logical.ends_with("\\\\") {
            logical.pop();
            pending = Some((start, logical));
            continue;
        }
        out.push(split(path, start, &logical)?);
    }
    if let Some((start, logical)) = pending {
        out.push(split(path, start, &logical)?);
    }
    Ok(out)
}

fn split(path: &Path, line: usize, logical: &str) -> Result<Entry, ConfigError> {
    let sep = logical.find(['=', ':', ' ', '\t']);
    let (key, value) = match sep {
        Some(i) => {
            let rest = logical[i..].trim_start_matches([' ', '\t']);
            let rest = rest.strip_prefix(['=', ':']).unwrap_or(rest);
            (&logical[..i], rest)
        }
        None => (logical, ""),
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(ConfigError::Invalid {
            at: Location {
                file: path.to_path_buf(),
                line: Some(line),
                key: None,
            },
            message: "a line with a value but no key".into(),
        });
    }
    // ZooKeeper trims values; trailing blanks in zoo.cfg are a classic source of bad ports.
    Ok(Entry {
        line,
        key: key.to_string(),
        value: value.trim().to_string(),
    })
}
