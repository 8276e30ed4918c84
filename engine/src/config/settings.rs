//! The effective settings of a server as `cellar config SERVER` shows them, one
//! `NAME = VALUE # SOURCE` line each: what a plan records of the configuration it was made
//! from (`Plan::settings`), so apply can refuse a plan whose configuration moved on. All
//! but `health_check`, `notify` and `backups`, which say how `cellar watch` looks at the
//! server and when it is backed up: changing them does not make a saved plan stale.

use super::ServerConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One effective setting: its name (`ebs_size_gb`, `tags.team`), its value as `cellar
/// config` renders it, and where it came from, relative to the configuration directory
/// (`servers/ommegang.ron:5:17`, or `(default)`), so a plan does not depend on where the
/// configuration was checked out. Saved as one line, as `cellar config` shows it:
/// `ebs_size_gb = 20 # servers/ommegang.ron:5:17`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Setting {
    pub name: String,
    pub value: String,
    pub source: String,
}

const VALUE: &str = " = ";
const SOURCE: &str = " # ";

impl From<Setting> for String {
    fn from(s: Setting) -> String {
        format!("{}{VALUE}{}{SOURCE}{}", s.name, s.value, s.source)
    }
}

impl TryFrom<String> for Setting {
    type Error = String;
    fn try_from(line: String) -> Result<Setting, String> {
        let bad = || format!("setting {line:?} is not `NAME = VALUE # FILE:LINE:COLUMN`");
        let (name, rest) = line.split_once(VALUE).ok_or_else(bad)?;
        let (value, source) = rest.rsplit_once(SOURCE).ok_or_else(bad)?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(bad());
        }
        Ok(Setting { name: name.to_string(), value: value.to_string(), source: source.to_string() })
    }
}

/// The settings of `config`, in `cellar config`'s order (without `health_check`, `notify`
/// and `backups`); `dir` is the configuration's root.
pub fn settings_of(config: &ServerConfig, dir: &Path) -> Vec<Setting> {
    // A server's values come from a few files: each one's relative name is worked out once.
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut out = Vec::new();
    for (name, value, source) in config.setting_entries() {
        let at = match files.iter().position(|(file, _)| *file == source.file) {
            Some(at) => at,
            None => {
                let shown = source.file.strip_prefix(dir).unwrap_or(&source.file).display().to_string();
                files.push((source.file, shown));
                files.len() - 1
            }
        };
        let file = &files[at].1;
        let source = if source.line == 0 { file.clone() } else { format!("{file}:{}:{}", source.line, source.column) };
        out.push(Setting { name, value, source });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str, value: &str, source: &str) -> Setting {
        Setting { name: name.into(), value: value.into(), source: source.into() }
    }

    #[test]
    fn a_setting_is_saved_as_one_line() {
        for (line, expected) in [
            ("ebs_size_gb = 20 # servers/a.ron:3:18", Ok(s("ebs_size_gb", "20", "servers/a.ron:3:18"))),
            ("tags.x = \"a # b\" # global.ron:1:2", Ok(s("tags.x", "\"a # b\"", "global.ron:1:2"))),
            ("ebs_size_gb = None # (default)", Ok(s("ebs_size_gb", "None", "(default)"))),
            ("ebs_size_gb 20", Err(())),
            ("ebs_size_gb = 20", Err(())),
            (" = 20 # a.ron:1:1", Err(())),
        ] {
            let parsed = Setting::try_from(line.to_string());
            assert_eq!(parsed.clone().map_err(|_| ()), expected, "{line}");
            if let Ok(setting) = parsed {
                assert_eq!(String::from(setting), line);
            } else {
                assert!(parsed.unwrap_err().contains("NAME = VALUE"), "{line}");
            }
        }
    }
}
