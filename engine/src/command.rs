//! The user's commands, parsed from the seed's `run.sh` syntax:
//! `<command>[@<server>] [<arg1> [<arg2> ...]] [--flag ...]`, positional arguments in the
//! seed's order. A `-` stands for "take this one from the server's configuration", so a
//! later argument can be given without repeating the earlier ones.
//!
//! What a command takes is data: its [`CommandSpec`] (name, target, positional arguments,
//! flags, one-line help), which this parser, the planner's dispatch and the CLI's help all
//! read. A parsed [`Command`] is the spec plus typed values; the planner asks it for an
//! argument by [`ArgKind`] and gets the value with its [`Origin`] (`command-line argument
//! N`, N taken from the spec, so it always names an argument that exists).

use crate::catalog;
use crate::model::*;
use std::collections::BTreeMap;
use std::fmt;

/// Where an effective setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The command's positional argument N (1-based).
    CommandLine(usize),
    /// A command flag (`--zone`).
    Flag(&'static str),
    Config(crate::config::Source),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::CommandLine(position) => write!(f, "command-line argument {position}"),
            Origin::Flag(flag) => write!(f, "{flag}"),
            Origin::Config(source) => write!(f, "{source}"),
        }
    }
}

/// What a command is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `command@SERVER`: a configured server.
    Server,
    /// `command@WORKSPACE`: a workspace (`workspace-N`), or a configured server.
    Workspace,
    /// No `@`: the command names what it makes itself.
    None,
}

/// The kinds of positional argument; each command takes each kind at most once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    EbsSizeGb,
    InstanceType,
    AmiType,
    Region,
    ZoneLetter,
    Architecture,
}

impl ArgKind {
    /// The argument's name in synopses (`ebs-gb`, `type`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ArgKind::EbsSizeGb => "ebs-gb",
            ArgKind::InstanceType => "type",
            ArgKind::AmiType => "ami-type",
            ArgKind::Region => "region",
            ArgKind::ZoneLetter => "zone-letter",
            ArgKind::Architecture => "arch",
        }
    }

    /// What the argument is, in error messages.
    fn what(self) -> &'static str {
        match self {
            ArgKind::EbsSizeGb => "EBS size in GB",
            ArgKind::InstanceType => "instance type",
            ArgKind::AmiType => "AMI type",
            ArgKind::Region => "region",
            ArgKind::ZoneLetter => "zone letter",
            ArgKind::Architecture => "architecture",
        }
    }

    fn parse(self, position: usize, value: &str) -> Result<ArgValue, CommandError> {
        Ok(match self {
            ArgKind::EbsSizeGb => ArgValue::Size(parse_ebs_size(position, value)?),
            ArgKind::InstanceType => ArgValue::InstanceType(parse_instance_type(position, value)?),
            ArgKind::AmiType => ArgValue::AmiType(parse_ami_type(position, value)?),
            ArgKind::Region => ArgValue::Region(parse_region(position, value)?),
            ArgKind::ZoneLetter => ArgValue::ZoneLetter(parse_zone_letter(position, value)?),
            ArgKind::Architecture => ArgValue::Architecture(parse_architecture(position, value)?),
        })
    }
}

/// One positional argument of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arg {
    pub kind: ArgKind,
    /// Shown as `<name>` (needed, unless the configuration has it) rather than `[name]`.
    pub needed: bool,
}

impl Arg {
    pub const fn optional(kind: ArgKind) -> Arg {
        Arg { kind, needed: false }
    }
    pub const fn needed(kind: ArgKind) -> Arg {
        Arg { kind, needed: true }
    }
}

/// The flags commands take (after the command: `upgrade-ami@duvel --restart`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    KeepGroup,
    Restart,
    DeleteData,
    CopyTo,
    Orphans,
    Due,
    At,
    Zone,
    DeleteOld,
    Drill,
}

impl Flag {
    pub const ALL: [Flag; 10] = [
        Flag::KeepGroup,
        Flag::Restart,
        Flag::DeleteData,
        Flag::CopyTo,
        Flag::Orphans,
        Flag::Due,
        Flag::At,
        Flag::Zone,
        Flag::DeleteOld,
        Flag::Drill,
    ];

    /// The flag as typed (`--keep-group`).
    pub fn name(self) -> &'static str {
        match self {
            Flag::KeepGroup => "--keep-group",
            Flag::Restart => "--restart",
            Flag::DeleteData => "--delete-data",
            Flag::CopyTo => "--copy-to",
            Flag::Orphans => "--orphans",
            Flag::Due => "--due",
            Flag::At => "--at",
            Flag::Zone => "--zone",
            Flag::DeleteOld => "--delete-old",
            Flag::Drill => "--drill",
        }
    }

    /// The name of its value (`REGION`), for flags that take one; those may be repeated.
    pub fn value_name(self) -> Option<&'static str> {
        match self {
            Flag::CopyTo => Some("REGION"),
            Flag::At => Some("WHEN"),
            Flag::Zone => Some("LETTER"),
            _ => None,
        }
    }

    /// Whether the flag may be given more than once (`--copy-to`); the others that take a
    /// value take one.
    pub fn repeatable(self) -> bool {
        matches!(self, Flag::CopyTo)
    }

    /// One line of help.
    pub fn help(self) -> &'static str {
        match self {
            Flag::KeepGroup => {
                "stop-auto-scaling: keep the auto scaling group and launch settings (desired 0), as the seed's \"run locally\""
            }
            Flag::Restart => "upgrade-ami: replace the instance now and wait until the server is healthy again",
            Flag::DeleteData => "destroy-server: also delete the data volume, after snapshotting it",
            Flag::CopyTo => "bundle-ami: copy the new image to REGION too (repeatable)",
            Flag::Orphans => {
                "prune: also prune the backups of a server that no longer exists (no resources left): they age out by its retention, each volume's newest stays"
            }
            Flag::Due => {
                "backup: only the scheduled backup, and only where it is due (what cron and `cellar watch` run); without it a server whose scheduled backup is not due gets a manual one"
            }
            Flag::At => {
                "restore-server: the backups to restore: the newest at or before a date (2026-11-24: its end, UTC) or time (2026-11-24T03:00Z), a backup's snapshot id (snap-...), or `now` (fresh snapshots)"
            }
            Flag::Zone => "restore-server: restore into this zone of the server's region (a letter), moving the server there",
            Flag::DeleteOld => {
                "restore-server: once the server is healthy, snapshot the replaced volumes and delete them (by default they are kept, tagged as replaced)"
            }
            Flag::Drill => {
                "restore-server: restore onto a new workspace instead, leaving the server untouched (destroy-workspace cleans it up)"
            }
        }
    }

    fn parse(name: &str) -> Option<Flag> {
        Flag::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether a command run on its server's own instance (no `@SERVER`: the seed's "run
    /// locally") takes this flag without being told: `--keep-group`, because the seed's
    /// `stop-auto-scaling` run locally kept the group and its launch settings (the instance
    /// it runs on is terminated last, so nothing can be deleted after it).
    pub fn implied_on_the_instance(self) -> bool {
        matches!(self, Flag::KeepGroup)
    }
}

/// Everything a command takes, and its help. The planner's registry
/// ([`crate::planner::COMMANDS`]) pairs each spec with how it is planned.
#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    /// Positional arguments, in the seed's order.
    pub args: &'static [Arg],
    pub flags: &'static [Flag],
    /// One line: what the command's plan does.
    pub help: &'static str,
    /// How it is planned; this also decides its [`Target`].
    pub planner: crate::planner::Planner,
}

impl CommandSpec {
    /// What the command is about: a server, a workspace, or nothing named.
    pub fn target(&self) -> Target {
        match self.planner {
            crate::planner::Planner::Server { .. } => Target::Server,
            crate::planner::Planner::Workspace { .. } => Target::Workspace,
            crate::planner::Planner::Defaults { .. } => Target::None,
        }
    }

    /// `create-server@NAME <ebs-gb> [type] [ami-type] [region] [zone-letter]`.
    pub fn synopsis(&self) -> String {
        let mut out = self.name.to_string();
        match self.target() {
            Target::Server => out.push_str("@NAME"),
            Target::Workspace => out.push_str("@WORKSPACE"),
            Target::None => {}
        }
        for arg in self.args {
            let (open, close) = if arg.needed { ('<', '>') } else { ('[', ']') };
            out.push_str(&format!(" {open}{}{close}", arg.kind.name()));
        }
        for flag in self.flags {
            match flag.value_name() {
                Some(value) if flag.repeatable() => out.push_str(&format!(" [{} {value} ...]", flag.name())),
                Some(value) => out.push_str(&format!(" [{} {value}]", flag.name())),
                None => out.push_str(&format!(" [{}]", flag.name())),
            }
        }
        out
    }

    /// The 1-based position of the argument of `kind`, if the command takes one.
    pub fn position(&self, kind: ArgKind) -> Option<usize> {
        self.args.iter().position(|a| a.kind == kind).map(|i| i + 1)
    }
}

/// A typed positional argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgValue {
    Size(u32),
    InstanceType(InstanceType),
    AmiType(AmiType),
    Region(Region),
    ZoneLetter(char),
    Architecture(Architecture),
}

impl fmt::Display for ArgValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgValue::Size(v) => write!(f, "{v}"),
            ArgValue::InstanceType(v) => write!(f, "{v}"),
            ArgValue::AmiType(v) => write!(f, "{v}"),
            ArgValue::Region(v) => write!(f, "{v}"),
            ArgValue::ZoneLetter(v) => write!(f, "{v}"),
            ArgValue::Architecture(v) => write!(f, "{v}"),
        }
    }
}

/// The flags given with a command, as typed: each flag with its values (none for a switch).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags(pub BTreeMap<Flag, Vec<String>>);

impl Flags {
    /// Sets a switch (`--restart`).
    pub fn set(&mut self, flag: Flag) {
        self.0.entry(flag).or_default();
    }
    /// Adds a value of a flag that takes values (`--copy-to us-west-2`).
    pub fn add(&mut self, flag: Flag, value: impl Into<String>) {
        self.0.entry(flag).or_default().push(value.into());
    }
}

/// A parsed command: its spec, its target, and its typed arguments and flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    spec: &'static CommandSpec,
    server: Option<ServerName>,
    /// One entry per positional argument of the spec; `None` for `-` or not given.
    args: Vec<Option<ArgValue>>,
    switches: Vec<Flag>,
    copy_to: Vec<Region>,
    /// `--at`: what restore-server restores.
    at: Option<crate::backup::RestoreAt>,
    /// `--zone`: the zone letter restore-server restores into.
    zone: Option<char>,
}

impl PartialEq for CommandSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for CommandSpec {}

impl Command {
    pub fn spec(&self) -> &'static CommandSpec {
        self.spec
    }

    /// The seed's command name (`create-server`).
    pub fn name(&self) -> &'static str {
        self.spec.name
    }

    /// The server (or workspace) the command is about; `None` for a command without a target.
    pub fn server(&self) -> Option<&ServerName> {
        self.server.as_ref()
    }

    fn arg(&self, kind: ArgKind) -> Option<(&ArgValue, Origin)> {
        let position = self.spec.position(kind)?;
        Some((self.args[position - 1].as_ref()?, Origin::CommandLine(position)))
    }

    pub fn ebs_size_gb(&self) -> Option<(u32, Origin)> {
        match self.arg(ArgKind::EbsSizeGb)? {
            (ArgValue::Size(v), origin) => Some((*v, origin)),
            _ => None,
        }
    }
    pub fn instance_type(&self) -> Option<(InstanceType, Origin)> {
        match self.arg(ArgKind::InstanceType)? {
            (ArgValue::InstanceType(v), origin) => Some((v.clone(), origin)),
            _ => None,
        }
    }
    pub fn ami_type(&self) -> Option<(AmiType, Origin)> {
        match self.arg(ArgKind::AmiType)? {
            (ArgValue::AmiType(v), origin) => Some((v.clone(), origin)),
            _ => None,
        }
    }
    pub fn region(&self) -> Option<(Region, Origin)> {
        match self.arg(ArgKind::Region)? {
            (ArgValue::Region(v), origin) => Some((v.clone(), origin)),
            _ => None,
        }
    }
    pub fn zone_letter(&self) -> Option<(char, Origin)> {
        match self.arg(ArgKind::ZoneLetter)? {
            (ArgValue::ZoneLetter(v), origin) => Some((*v, origin)),
            _ => None,
        }
    }
    pub fn architecture(&self) -> Option<(Architecture, Origin)> {
        match self.arg(ArgKind::Architecture)? {
            (ArgValue::Architecture(v), origin) => Some((*v, origin)),
            _ => None,
        }
    }

    /// Whether a switch (`--restart`) was given.
    pub fn has(&self, flag: Flag) -> bool {
        self.switches.contains(&flag)
    }

    /// The regions of `--copy-to`, without repeats, in the order given.
    pub fn copy_to(&self) -> &[Region] {
        &self.copy_to
    }

    /// `--at`, parsed.
    pub fn at(&self) -> Option<&crate::backup::RestoreAt> {
        self.at.as_ref()
    }

    /// `--zone`'s letter.
    pub fn zone_flag(&self) -> Option<char> {
        self.zone
    }
}

impl fmt::Display for Command {
    /// The canonical command line, as saved in a plan (`create-server@ommegang 20 - - - b`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        if let Some(server) = &self.server {
            write!(f, "@{server}")?;
        }
        let given = self.args.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
        for arg in &self.args[..given] {
            match arg {
                Some(v) => write!(f, " {v}")?,
                None => f.write_str(" -")?,
            }
        }
        for flag in self.spec.flags {
            if *flag == Flag::CopyTo {
                for region in &self.copy_to {
                    write!(f, " {} {region}", flag.name())?;
                }
            } else if let (Flag::At, Some(at)) = (flag, &self.at) {
                write!(f, " {} {at}", flag.name())?;
            } else if let (Flag::Zone, Some(zone)) = (flag, self.zone) {
                write!(f, " {} {zone}", flag.name())?;
            } else if self.switches.contains(flag) {
                write!(f, " {}", flag.name())?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command {name:?}{}; commands: {known}", suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    Unknown { name: String, suggestion: Option<&'static str>, known: String },
    #[error("{command} needs a server: {synopsis}")]
    MissingServer { command: &'static str, synopsis: String },
    #[error("{command} takes no server (it names its own workspace): {synopsis}")]
    UnexpectedServer { command: &'static str, synopsis: String },
    #[error(transparent)]
    BadServerName(#[from] InvalidServerName),
    #[error("argument {position} ({what}) {value:?} is invalid: {reason}")]
    BadArgument { position: usize, what: &'static str, value: String, reason: String },
    #[error("too many arguments for {command}: {synopsis}")]
    TooManyArguments { command: &'static str, synopsis: String },
    #[error("{flag} does not apply to {command}: {synopsis}")]
    FlagNotApplicable { flag: &'static str, command: &'static str, synopsis: String },
    #[error("unknown flag {flag:?} for {command}: {synopsis}")]
    UnknownFlag { flag: String, command: &'static str, synopsis: String },
    #[error("{flag} needs a value: {synopsis}")]
    MissingFlagValue { flag: &'static str, synopsis: String },
    #[error("--copy-to {value:?} is invalid: {reason}")]
    BadCopyTo { value: String, reason: String },
    #[error("{flag} {value:?} is invalid: {reason}")]
    BadFlagValue { flag: &'static str, value: String, reason: String },
    #[error("{flag} is given more than once ({values}): give it once")]
    RepeatedFlag { flag: &'static str, values: String },
}

/// Parses `target` (`create-server@ommegang`), its positional arguments and the flags,
/// against the commands of `specs`.
pub fn parse(
    specs: &[&'static CommandSpec],
    target: &str,
    args: &[String],
    flags: &Flags,
) -> Result<Command, CommandError> {
    let (name, server) = match target.split_once('@') {
        Some((name, server)) => (name, Some(server)),
        None => (target, None),
    };
    let Some(spec) = specs.iter().copied().find(|s| s.name == name) else {
        let suggestion = specs
            .iter()
            .map(|s| (catalog::edit_distance(s.name, name), s.name))
            .filter(|(d, _)| *d <= 3)
            .min()
            .map(|(_, s)| s);
        let known = specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ");
        return Err(CommandError::Unknown { name: name.to_string(), suggestion, known });
    };
    let (command, synopsis) = (spec.name, || spec.synopsis());
    if args.len() > spec.args.len() {
        return Err(CommandError::TooManyArguments { command, synopsis: synopsis() });
    }
    for flag in flags.0.keys() {
        if !spec.flags.contains(flag) {
            return Err(CommandError::FlagNotApplicable { flag: flag.name(), command, synopsis: synopsis() });
        }
    }
    let server = match (spec.target(), server) {
        (Target::None, Some(_)) => return Err(CommandError::UnexpectedServer { command, synopsis: synopsis() }),
        (Target::None, None) => None,
        (_, None) => return Err(CommandError::MissingServer { command, synopsis: synopsis() }),
        (_, Some(s)) => Some(ServerName::parse(s)?),
    };
    let mut values = Vec::with_capacity(spec.args.len());
    for (i, arg) in spec.args.iter().enumerate() {
        values.push(match args.get(i).map(String::as_str) {
            None | Some("-") => None,
            Some(value) => Some(arg.kind.parse(i + 1, value)?),
        });
    }
    let mut copy_to: Vec<Region> = Vec::new();
    for value in flags.0.get(&Flag::CopyTo).into_iter().flatten() {
        let region = parse_region(0, value)
            .map_err(|e| CommandError::BadCopyTo { value: value.clone(), reason: reason_of(e) })?;
        if !copy_to.contains(&region) {
            copy_to.push(region);
        }
    }
    let once = |flag: Flag| -> Result<Option<&String>, CommandError> {
        match flags.0.get(&flag).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one)),
            Some(many) => Err(CommandError::RepeatedFlag { flag: flag.name(), values: many.join(", ") }),
        }
    };
    let at = once(Flag::At)?
        .map(|value| {
            crate::backup::RestoreAt::parse(value).map_err(|reason| CommandError::BadFlagValue {
                flag: Flag::At.name(),
                value: value.clone(),
                reason,
            })
        })
        .transpose()?;
    let zone = once(Flag::Zone)?
        .map(|value| {
            parse_zone_letter(0, value).map_err(|e| CommandError::BadFlagValue {
                flag: Flag::Zone.name(),
                value: value.clone(),
                reason: reason_of(e),
            })
        })
        .transpose()?;
    let switches = flags.0.keys().copied().filter(|f| f.value_name().is_none()).collect();
    Ok(Command { spec, server, args: values, switches, copy_to, at, zone })
}

/// Whether `target` names a command about a server (or workspace) and gives none:
/// `stop-auto-scaling` typed on a server's own instance. The caller finds the server (the
/// CLI: from the instance's `Name` tag) and parses with [`parse_on_instance`]; this module
/// does no I/O. Unknown commands and commands without a target are `false`: [`parse`]
/// reports them.
pub fn server_from_instance(specs: &[&'static CommandSpec], target: &str) -> bool {
    !target.contains('@') && specs.iter().any(|s| s.name == target && s.target() != Target::None)
}

/// Parses a command typed without `@SERVER` on `server`'s own instance (see
/// [`server_from_instance`]), as the seed's scripts ran "locally": the server is the
/// instance's, and the flags of the local case are set ([`Flag::implied_on_the_instance`]).
/// The command it returns is explicit (`stop-auto-scaling@duvel --keep-group`), so a saved
/// plan says what it does wherever it is applied.
pub fn parse_on_instance(
    specs: &[&'static CommandSpec],
    target: &str,
    args: &[String],
    flags: &Flags,
    server: &ServerName,
) -> Result<Command, CommandError> {
    if !server_from_instance(specs, target) {
        return parse(specs, target, args, flags);
    }
    let mut flags = flags.clone();
    let spec = specs.iter().find(|s| s.name == target);
    for flag in spec.into_iter().flat_map(|s| s.flags.iter()) {
        if flag.implied_on_the_instance() {
            flags.set(*flag);
        }
    }
    parse(specs, &format!("{target}@{server}"), args, &flags)
}

/// Parses a command typed as words, flags among them: `["upgrade-ami@duvel", "--restart"]`.
/// A flag that takes a value takes the next word (or `--flag=value`).
pub fn parse_words(specs: &[&'static CommandSpec], words: &[String]) -> Result<Command, CommandError> {
    let Some((target, rest)) = words.split_first() else {
        let known = specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ");
        return Err(CommandError::Unknown { name: String::new(), suggestion: None, known });
    };
    let synopsis = || {
        let name = target.split('@').next().unwrap_or_default();
        specs.iter().find(|s| s.name == name).map(|s| s.synopsis()).unwrap_or_default()
    };
    let command_name = || specs.iter().find(|s| target.starts_with(s.name)).map(|s| s.name).unwrap_or("the command");
    let (mut args, mut flags) = (Vec::new(), Flags::default());
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        if !word.starts_with("--") {
            args.push(word.clone());
            continue;
        }
        let (name, inline) = match word.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (word.as_str(), None),
        };
        let Some(flag) = Flag::parse(name) else {
            return Err(CommandError::UnknownFlag {
                flag: word.clone(),
                command: command_name(),
                synopsis: synopsis(),
            });
        };
        match (flag.value_name(), inline) {
            (Some(_), inline) => {
                let value = inline.or_else(|| words.next().cloned());
                let value = value.ok_or(CommandError::MissingFlagValue { flag: flag.name(), synopsis: synopsis() })?;
                flags.add(flag, value);
            }
            (None, None) => flags.set(flag),
            (None, Some(_)) => {
                return Err(CommandError::UnknownFlag {
                    flag: word.clone(),
                    command: command_name(),
                    synopsis: synopsis(),
                })
            }
        }
    }
    parse(specs, target, &args, &flags)
}

fn reason_of(e: CommandError) -> String {
    match e {
        CommandError::BadArgument { reason, .. } => reason,
        other => other.to_string(),
    }
}

fn bad(position: usize, kind: ArgKind, value: &str, reason: impl Into<String>) -> CommandError {
    CommandError::BadArgument { position, what: kind.what(), value: value.to_string(), reason: reason.into() }
}

fn parse_architecture(position: usize, value: &str) -> Result<Architecture, CommandError> {
    Architecture::parse(value).ok_or_else(|| bad(position, ArgKind::Architecture, value, "use x86_64, i386 or arm64"))
}

/// An EBS size in GiB, within what some volume type allows (1..=65536); the planner checks
/// it against the server's volume type.
pub fn parse_ebs_size(position: usize, value: &str) -> Result<u32, CommandError> {
    let kind = ArgKind::EbsSizeGb;
    let limits = || {
        format!(
            "must be between {} and {} GB (the smallest and largest EBS volumes)",
            catalog::EBS_ANY_MIN_GB,
            catalog::EBS_ANY_MAX_GB
        )
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(position, kind, value, "not a whole number of GB"));
    }
    // A whole number too big for any integer is still just too big.
    let size: u64 = value.parse().unwrap_or(u64::MAX);
    if !(u64::from(catalog::EBS_ANY_MIN_GB)..=u64::from(catalog::EBS_ANY_MAX_GB)).contains(&size) {
        return Err(bad(position, kind, value, limits()));
    }
    Ok(size as u32)
}

fn parse_instance_type(position: usize, value: &str) -> Result<InstanceType, CommandError> {
    if catalog::instance_type_architectures(value).is_none() {
        let hint = catalog::suggest_instance_type(value)
            .map(|s| format!("unknown instance type; did you mean {s}?"))
            .unwrap_or_else(|| {
                format!(
                    "unknown instance type; known types: {}",
                    catalog::INSTANCE_TYPES.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
                )
            });
        return Err(bad(position, ArgKind::InstanceType, value, hint));
    }
    Ok(InstanceType::new(value))
}

fn parse_ami_type(position: usize, value: &str) -> Result<AmiType, CommandError> {
    let ok = !value.is_empty()
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !ok {
        return Err(bad(position, ArgKind::AmiType, value, "use lowercase letters, digits and '-' (e.g. web-server)"));
    }
    Ok(AmiType::new(value))
}

fn parse_region(position: usize, value: &str) -> Result<Region, CommandError> {
    if catalog::zone_letters(value).is_none() {
        let known: Vec<&str> = catalog::REGIONS.iter().map(|(r, _)| *r).collect();
        return Err(bad(
            position,
            ArgKind::Region,
            value,
            format!("unknown region; known regions: {}", known.join(", ")),
        ));
    }
    Ok(Region::new(value))
}

fn parse_zone_letter(position: usize, value: &str) -> Result<char, CommandError> {
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_lowercase() => Ok(c),
        _ => Err(bad(position, ArgKind::ZoneLetter, value, "give the zone's letter only, e.g. a or b")),
    }
}

#[cfg(test)]
mod tests;
