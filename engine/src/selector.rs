//! Selectors: which configured servers a command or `cellar status` is about.
//!
//! `ommegang` (one name), `ommegang,duvel` (a list; each item a name or a glob), `all`,
//! `web-*` (a glob: `*` any run of characters, `?` one), `platform=debian-web`,
//! `tag:team=web` (the effective tag, as `cellar config` shows it). Pure: a selector is
//! matched against a [`ConfigTree`], never against the cloud. Names, lists, globs and
//! `all` need only the listing of the server files; `platform=` reads every server file as
//! far as its platform, `tag:` every server's files as far as their tags, and refuses when
//! a file does not say (a broken file might be a server it selects).
//!
//! Invariants: a selection is sorted and without duplicates; a selector that selects no
//! server is an error naming what exists (a typo must not become a no-op on the fleet);
//! a name in a list that is not configured is an error, except a lone name, which the
//! command resolves itself (a workspace has no configuration).

use crate::config::{ConfigErrors, ConfigTree};
use crate::model::ServerName;
use std::collections::BTreeSet;
use std::fmt;

/// A parsed selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// One name: the command's own target (a configured server or a workspace).
    One(ServerName),
    /// Names and globs, comma-separated; their union.
    List(Vec<Item>),
    All,
    Platform(String),
    Tag {
        key: String,
        value: String,
    },
}

/// One item of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Name(ServerName),
    Glob(String),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("selector {text:?}: {problem}\n  fix: {fix}")]
    Malformed { text: String, problem: String, fix: String },
    #[error("selector {selector} selects no server{}\n  fix: {fix}", if known.is_empty() { String::new() } else { format!(" (known: {known})") })]
    Empty { selector: String, known: String, fix: String },
    #[error("selector {selector}: {name} is not a configured server (known: {known})\n  fix: add servers/{name}.ron, or correct the name")]
    Unknown { selector: String, name: ServerName, known: String },
    #[error("selector {selector}: cannot tell whether {server} is selected, its files have problems:\n  {problem}")]
    Config { selector: String, server: ServerName, problem: String },
}

const FORMS: &str =
    "a name, a comma list of names or globs (`ommegang,duvel`, `web-*`), `all`, `platform=NAME` or `tag:KEY=VALUE`";

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let malformed = |problem: String| SelectorError::Malformed {
            text: text.to_string(),
            problem,
            fix: format!("write {FORMS}"),
        };
        if text == "all" {
            return Ok(Selector::All);
        }
        if let Some(platform) = text.strip_prefix("platform=") {
            if platform.is_empty() || !platform.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(malformed(format!("{platform:?} is not a platform name")));
            }
            return Ok(Selector::Platform(platform.to_string()));
        }
        if let Some(tag) = text.strip_prefix("tag:") {
            return match tag.split_once('=') {
                Some((key, value)) if !key.is_empty() => {
                    Ok(Selector::Tag { key: key.to_string(), value: value.to_string() })
                }
                _ => Err(malformed("a tag selector is tag:KEY=VALUE".into())),
            };
        }
        let mut items = Vec::new();
        for part in text.split(',') {
            if part.is_empty() {
                return Err(malformed("an empty item in the list".into()));
            }
            if part.contains(['*', '?']) {
                let stripped: String = part.chars().filter(|c| !matches!(c, '*' | '?')).collect();
                if !stripped.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                    return Err(malformed(format!("glob {part:?} can only match server names (a-z, 0-9, -)")));
                }
                items.push(Item::Glob(part.to_string()));
            } else {
                let name = ServerName::parse(part).map_err(|e| malformed(e.to_string()))?;
                items.push(Item::Name(name));
            }
        }
        Ok(match items.as_slice() {
            [Item::Name(name)] => Selector::One(name.clone()),
            _ => Selector::List(items),
        })
    }

    /// The one server, when the selector is a lone name.
    pub fn one(&self) -> Option<&ServerName> {
        match self {
            Selector::One(name) => Some(name),
            _ => None,
        }
    }

    /// The configured servers it selects, sorted; a lone name as it is.
    pub fn select(&self, tree: &ConfigTree) -> Result<Vec<ServerName>, SelectorError> {
        let configured = tree.server_names();
        let known = || list(&configured);
        let mut selected = BTreeSet::new();
        match self {
            Selector::One(name) => return Ok(vec![name.clone()]),
            Selector::All => selected.extend(configured.iter().cloned()),
            Selector::List(items) => {
                for item in items {
                    match item {
                        Item::Name(name) if configured.contains(name) => {
                            selected.insert(name.clone());
                        }
                        Item::Name(name) => {
                            return Err(SelectorError::Unknown {
                                selector: self.to_string(),
                                name: name.clone(),
                                known: known(),
                            })
                        }
                        Item::Glob(glob) => {
                            selected.extend(configured.iter().filter(|n| glob_matches(glob, n.as_str())).cloned())
                        }
                    }
                }
            }
            Selector::Platform(platform) => {
                for name in &configured {
                    if tree.platform_of(name).map_err(|e| self.unreadable(name, e))? == Some(platform.as_str()) {
                        selected.insert(name.clone());
                    }
                }
            }
            Selector::Tag { key, value } => {
                for name in &configured {
                    let tags = tree.tags_of(name).map_err(|e| self.unreadable(name, e))?;
                    if tags.get(key) == Some(value) {
                        selected.insert(name.clone());
                    }
                }
            }
        }
        if selected.is_empty() {
            let (known, fix) = match self {
                Selector::Platform(_) => {
                    (tree.platform_names().join(", "), "name a platform that has servers (see platforms/)".to_string())
                }
                _ => (known(), format!("write {FORMS}")),
            };
            return Err(SelectorError::Empty { selector: self.to_string(), known, fix });
        }
        Ok(selected.into_iter().collect())
    }

    /// A server whose files do not say whether the selector selects it.
    fn unreadable(&self, server: &ServerName, e: ConfigErrors) -> SelectorError {
        SelectorError::Config {
            selector: self.to_string(),
            server: server.clone(),
            problem: e.to_string().replace('\n', "\n  "),
        }
    }
}

fn list(names: &[ServerName]) -> String {
    match names.len() {
        0 => "none".to_string(),
        n if n > 10 => {
            format!("{} and {} more", names[..10].iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", "), n - 10)
        }
        _ => names.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", "),
    }
}

/// Does `name` match `glob` (`*` any run of characters, `?` exactly one)?
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let (g, n): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    // Iterative wildcard match with one backtrack point (the last `*`).
    let (mut gi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == n[ni]) {
            gi += 1;
            ni += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = ni;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|c| *c == '*')
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::One(name) => write!(f, "{name}"),
            Selector::List(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        Item::Name(n) => n.to_string(),
                        Item::Glob(g) => g.clone(),
                    })
                    .collect();
                write!(f, "{}", items.join(","))
            }
            Selector::All => write!(f, "all"),
            Selector::Platform(p) => write!(f, "platform={p}"),
            Selector::Tag { key, value } => write!(f, "tag:{key}={value}"),
        }
    }
}

#[cfg(test)]
mod tests;
