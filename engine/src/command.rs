//! The user's commands, parsed from the seed's `run.sh` syntax:
//! `<command>[@<server>] [<arg1> [<arg2> ...]]`, positional arguments in the seed's order.
//! A `-` stands for "take this one from the server's configuration", so a later argument
//! can be given without repeating the earlier ones.

use crate::catalog;
use crate::model::*;
use std::fmt;

/// A parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    CreateServer(CreateServer),
    /// `stop-auto-scaling@NAME [--keep-group]`
    StopAutoScaling {
        server: ServerName,
        keep_group: bool,
    },
    /// `attach-instance@NAME [type] [ami-type] [arch]`
    AttachInstance {
        server: ServerName,
        launch: LaunchArgs,
    },
    /// `start-auto-scaling@NAME [type] [ami-type] [arch]`
    StartAutoScaling {
        server: ServerName,
        launch: LaunchArgs,
    },
    /// `upgrade-ami@NAME [--restart]`
    UpgradeAmi {
        server: ServerName,
        restart: bool,
    },
    /// `create-workspace [ami-type] [arch] [region]`
    CreateWorkspace {
        ami_type: Option<AmiType>,
        architecture: Option<Architecture>,
        region: Option<Region>,
    },
    /// `bundle-ami@WORKSPACE [ami-type] [--copy-to REGION ...]`
    BundleAmi {
        workspace: ServerName,
        ami_type: Option<AmiType>,
        copy_to: Vec<Region>,
    },
    /// `destroy-server@NAME [--delete-data]`
    DestroyServer {
        server: ServerName,
        delete_data: bool,
    },
}

/// `create-server@NAME <ebs-gb> [type] [ami-type] [region] [zone-letter]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateServer {
    pub server: ServerName,
    pub ebs_size_gb: Option<u32>,
    pub instance_type: Option<InstanceType>,
    pub ami_type: Option<AmiType>,
    pub region: Option<Region>,
    pub zone_letter: Option<char>,
}

/// `[type] [ami-type] [arch]` of attach-instance and start-auto-scaling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaunchArgs {
    pub instance_type: Option<InstanceType>,
    pub ami_type: Option<AmiType>,
    pub architecture: Option<Architecture>,
}

/// The command-line flags that belong to commands (given to `cellar plan`/`apply`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub keep_group: bool,
    pub restart: bool,
    pub delete_data: bool,
    pub copy_to: Vec<String>,
}

impl Command {
    /// The server (or workspace) the command is about; `None` for create-workspace.
    pub fn server(&self) -> Option<&ServerName> {
        match self {
            Command::CreateServer(c) => Some(&c.server),
            Command::StopAutoScaling { server, .. }
            | Command::AttachInstance { server, .. }
            | Command::StartAutoScaling { server, .. }
            | Command::UpgradeAmi { server, .. }
            | Command::DestroyServer { server, .. } => Some(server),
            Command::BundleAmi { workspace, .. } => Some(workspace),
            Command::CreateWorkspace { .. } => None,
        }
    }

    /// The seed's command name (`create-server`).
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateServer(_) => "create-server",
            Command::StopAutoScaling { .. } => "stop-auto-scaling",
            Command::AttachInstance { .. } => "attach-instance",
            Command::StartAutoScaling { .. } => "start-auto-scaling",
            Command::UpgradeAmi { .. } => "upgrade-ami",
            Command::CreateWorkspace { .. } => "create-workspace",
            Command::BundleAmi { .. } => "bundle-ami",
            Command::DestroyServer { .. } => "destroy-server",
        }
    }
}

impl fmt::Display for Command {
    /// The canonical command line, as saved in a plan (`create-server@ommegang 20 - - - b`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        if let Some(server) = self.server() {
            write!(f, "@{server}")?;
        }
        let mut args: Vec<String> = match self {
            Command::CreateServer(c) => vec![
                c.ebs_size_gb.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                opt(&c.instance_type),
                opt(&c.ami_type),
                opt(&c.region),
                c.zone_letter.map(|z| z.to_string()).unwrap_or_else(|| "-".into()),
            ],
            Command::AttachInstance { launch, .. } | Command::StartAutoScaling { launch, .. } => {
                vec![opt(&launch.instance_type), opt(&launch.ami_type), opt(&launch.architecture)]
            }
            Command::CreateWorkspace { ami_type, architecture, region } => {
                vec![opt(ami_type), opt(architecture), opt(region)]
            }
            Command::BundleAmi { ami_type, .. } => vec![opt(ami_type)],
            Command::StopAutoScaling { .. } | Command::UpgradeAmi { .. } | Command::DestroyServer { .. } => vec![],
        };
        while args.last().is_some_and(|a| a == "-") {
            args.pop();
        }
        for a in args {
            write!(f, " {a}")?;
        }
        match self {
            Command::StopAutoScaling { keep_group: true, .. } => f.write_str(" --keep-group"),
            Command::UpgradeAmi { restart: true, .. } => f.write_str(" --restart"),
            Command::DestroyServer { delete_data: true, .. } => f.write_str(" --delete-data"),
            Command::BundleAmi { copy_to, .. } => {
                for region in copy_to {
                    write!(f, " --copy-to {region}")?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn opt<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// The seed's commands, with their argument synopsis.
pub const COMMANDS: &[(&str, &str)] = &[
    ("create-server", "create-server@NAME <ebs-gb> [type] [ami-type] [region] [zone-letter]"),
    ("stop-auto-scaling", "stop-auto-scaling@NAME [--keep-group]"),
    ("attach-instance", "attach-instance@NAME [type] [ami-type] [arch]"),
    ("start-auto-scaling", "start-auto-scaling@NAME [type] [ami-type] [arch]"),
    ("upgrade-ami", "upgrade-ami@NAME [--restart]"),
    ("create-workspace", "create-workspace [ami-type] [arch] [region]"),
    ("bundle-ami", "bundle-ami@WORKSPACE [ami-type] [--copy-to REGION ...]"),
    ("destroy-server", "destroy-server@NAME [--delete-data]"),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command {name:?}{}; commands: {}", suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default(), COMMANDS.iter().map(|c| c.0).collect::<Vec<_>>().join(", "))]
    Unknown { name: String, suggestion: Option<&'static str> },
    #[error("{command} needs a server: {synopsis}")]
    MissingServer { command: &'static str, synopsis: &'static str },
    #[error("{command} takes no server (it names its own workspace): {synopsis}")]
    UnexpectedServer { command: &'static str, synopsis: &'static str },
    #[error(transparent)]
    BadServerName(#[from] InvalidServerName),
    #[error("argument {position} ({what}) {value:?} is invalid: {reason}")]
    BadArgument { position: usize, what: &'static str, value: String, reason: String },
    #[error("too many arguments for {command}: {synopsis}")]
    TooManyArguments { command: &'static str, synopsis: &'static str },
    #[error("{flag} does not apply to {command}: {synopsis}")]
    FlagNotApplicable { flag: &'static str, command: &'static str, synopsis: &'static str },
    #[error("--copy-to {value:?} is invalid: {reason}")]
    BadCopyTo { value: String, reason: String },
}

/// Parses `target` (`create-server@ommegang`), its positional arguments and the command flags.
pub fn parse(target: &str, args: &[String], flags: &Flags) -> Result<Command, CommandError> {
    let (name, server) = match target.split_once('@') {
        Some((name, server)) => (name, Some(server)),
        None => (target, None),
    };
    let Some(&(command, synopsis)) = COMMANDS.iter().find(|(c, _)| *c == name) else {
        let suggestion = COMMANDS
            .iter()
            .map(|(c, _)| (catalog::edit_distance(c, name), *c))
            .filter(|(d, _)| *d <= 3)
            .min()
            .map(|(_, c)| c);
        return Err(CommandError::Unknown { name: name.to_string(), suggestion });
    };
    let max_args = match command {
        "create-server" => 5,
        "attach-instance" | "start-auto-scaling" | "create-workspace" => 3,
        "bundle-ami" => 1,
        _ => 0,
    };
    if args.len() > max_args {
        return Err(CommandError::TooManyArguments { command, synopsis });
    }
    let allowed: &[&str] = match command {
        "stop-auto-scaling" => &["--keep-group"],
        "upgrade-ami" => &["--restart"],
        "destroy-server" => &["--delete-data"],
        "bundle-ami" => &["--copy-to"],
        _ => &[],
    };
    for (flag, set) in [
        ("--keep-group", flags.keep_group),
        ("--restart", flags.restart),
        ("--delete-data", flags.delete_data),
        ("--copy-to", !flags.copy_to.is_empty()),
    ] {
        if set && !allowed.contains(&flag) {
            return Err(CommandError::FlagNotApplicable { flag, command, synopsis });
        }
    }
    let server = match (command, server) {
        ("create-workspace", Some(_)) => return Err(CommandError::UnexpectedServer { command, synopsis }),
        ("create-workspace", None) => None,
        (_, None) => return Err(CommandError::MissingServer { command, synopsis }),
        (_, Some(s)) => Some(ServerName::parse(s)?),
    };
    let arg = |i: usize| args.get(i).map(String::as_str).filter(|a| *a != "-");
    let server = || server.clone().expect("checked above");
    let launch_args = || -> Result<LaunchArgs, CommandError> {
        Ok(LaunchArgs {
            instance_type: arg(0).map(|v| parse_instance_type(1, v)).transpose()?,
            ami_type: arg(1).map(|v| parse_ami_type(2, v)).transpose()?,
            architecture: arg(2).map(|v| parse_architecture(3, v)).transpose()?,
        })
    };
    Ok(match command {
        "create-server" => Command::CreateServer(CreateServer {
            server: server(),
            ebs_size_gb: arg(0).map(|v| parse_ebs_size(1, v)).transpose()?,
            instance_type: arg(1).map(|v| parse_instance_type(2, v)).transpose()?,
            ami_type: arg(2).map(|v| parse_ami_type(3, v)).transpose()?,
            region: arg(3).map(|v| parse_region(4, v)).transpose()?,
            zone_letter: arg(4).map(|v| parse_zone_letter(5, v)).transpose()?,
        }),
        "stop-auto-scaling" => Command::StopAutoScaling { server: server(), keep_group: flags.keep_group },
        "attach-instance" => Command::AttachInstance { server: server(), launch: launch_args()? },
        "start-auto-scaling" => Command::StartAutoScaling { server: server(), launch: launch_args()? },
        "upgrade-ami" => Command::UpgradeAmi { server: server(), restart: flags.restart },
        "create-workspace" => Command::CreateWorkspace {
            ami_type: arg(0).map(|v| parse_ami_type(1, v)).transpose()?,
            architecture: arg(1).map(|v| parse_architecture(2, v)).transpose()?,
            region: arg(2).map(|v| parse_region(3, v)).transpose()?,
        },
        "bundle-ami" => {
            let mut copy_to = Vec::new();
            for value in &flags.copy_to {
                let region = parse_region(0, value)
                    .map_err(|e| CommandError::BadCopyTo { value: value.clone(), reason: reason_of(e) })?;
                if !copy_to.contains(&region) {
                    copy_to.push(region);
                }
            }
            Command::BundleAmi {
                workspace: server(),
                ami_type: arg(0).map(|v| parse_ami_type(1, v)).transpose()?,
                copy_to,
            }
        }
        "destroy-server" => Command::DestroyServer { server: server(), delete_data: flags.delete_data },
        other => unreachable!("{other} is in COMMANDS"),
    })
}

fn reason_of(e: CommandError) -> String {
    match e {
        CommandError::BadArgument { reason, .. } => reason,
        other => other.to_string(),
    }
}

fn parse_architecture(position: usize, value: &str) -> Result<Architecture, CommandError> {
    Architecture::parse(value).ok_or_else(|| bad(position, "architecture", value, "use x86_64, i386 or arm64"))
}

fn bad(position: usize, what: &'static str, value: &str, reason: impl Into<String>) -> CommandError {
    CommandError::BadArgument { position, what, value: value.to_string(), reason: reason.into() }
}

/// An EBS size in GiB, 1..=16384.
pub fn parse_ebs_size(position: usize, value: &str) -> Result<u32, CommandError> {
    let what = "EBS size in GB";
    let size: u32 = value.parse().map_err(|_| bad(position, what, value, "not a whole number of GB"))?;
    if !(catalog::EBS_MIN_GB..=catalog::EBS_MAX_GB).contains(&size) {
        return Err(bad(
            position,
            what,
            value,
            format!("must be between {} and {} GB (the gp3 limits)", catalog::EBS_MIN_GB, catalog::EBS_MAX_GB),
        ));
    }
    Ok(size)
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
        return Err(bad(position, "instance type", value, hint));
    }
    Ok(InstanceType::new(value))
}

fn parse_ami_type(position: usize, value: &str) -> Result<AmiType, CommandError> {
    let ok = !value.is_empty()
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !ok {
        return Err(bad(position, "AMI type", value, "use lowercase letters, digits and '-' (e.g. web-server)"));
    }
    Ok(AmiType::new(value))
}

fn parse_region(position: usize, value: &str) -> Result<Region, CommandError> {
    if catalog::zone_letters(value).is_none() {
        let known: Vec<&str> = catalog::REGIONS.iter().map(|(r, _)| *r).collect();
        return Err(bad(position, "region", value, format!("unknown region; known regions: {}", known.join(", "))));
    }
    Ok(Region::new(value))
}

fn parse_zone_letter(position: usize, value: &str) -> Result<char, CommandError> {
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_lowercase() => Ok(c),
        _ => Err(bad(position, "zone letter", value, "give the zone's letter only, e.g. a or b")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let mut words = input.split_whitespace();
        let target = words.next().unwrap();
        let args: Vec<String> = words.map(String::from).collect();
        let mut flags = Flags::default();
        let args: Vec<String> = args
            .into_iter()
            .filter(|a| match a.as_str() {
                "--keep-group" => {
                    flags.keep_group = true;
                    false
                }
                "--restart" => {
                    flags.restart = true;
                    false
                }
                "--delete-data" => {
                    flags.delete_data = true;
                    false
                }
                copy if copy.starts_with("--copy-to=") => {
                    flags.copy_to.push(copy["--copy-to=".len()..].to_string());
                    false
                }
                _ => true,
            })
            .collect();
        let got = match parse(target, &args, &flags) {
            Ok(command) => format!("ok: {command}"),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn create_server() {
        check("create-server@ommegang 20", "ok: create-server@ommegang 20");
        check(
            "create-server@ommegang 20 m5.large web-server us-east-1 b",
            "ok: create-server@ommegang 20 m5.large web-server us-east-1 b",
        );
        check("create-server@ommegang 20 - - - c", "ok: create-server@ommegang 20 - - - c");
        check("create-server@ommegang", "ok: create-server@ommegang");
        check(
            "create-server@ommegang 0",
            "error: argument 1 (EBS size in GB) \"0\" is invalid: must be between 1 and 16384 GB (the gp3 limits)",
        );
        check(
            "create-server@ommegang 16385",
            "error: argument 1 (EBS size in GB) \"16385\" is invalid: must be between 1 and 16384 GB (the gp3 limits)",
        );
        check(
            "create-server@ommegang big",
            "error: argument 1 (EBS size in GB) \"big\" is invalid: not a whole number of GB",
        );
        check(
            "create-server@ommegang 20 m5.larg",
            "error: argument 2 (instance type) \"m5.larg\" is invalid: unknown instance type; did you mean m5.large?",
        );
        check(
            "create-server@ommegang 20 - - us-east-1 ab",
            "error: argument 5 (zone letter) \"ab\" is invalid: give the zone's letter only, e.g. a or b",
        );
        check(
            "create-server 20",
            "error: create-server needs a server: create-server@NAME <ebs-gb> [type] [ami-type] [region] [zone-letter]",
        );
        check(
            "create-server@Ommegang 20",
            "error: invalid server name \"Ommegang\": it does not start with a lowercase letter (use 1-63 lowercase letters, digits and '-', starting with a letter)",
        );
        check("create-server@x 1 2 3 4 5 6", "error: too many arguments for create-server: create-server@NAME <ebs-gb> [type] [ami-type] [region] [zone-letter]");
    }

    #[test]
    fn unknown_commands() {
        check("create-sever@x", "error: unknown command \"create-sever\" (did you mean create-server?); commands: create-server, stop-auto-scaling, attach-instance, start-auto-scaling, upgrade-ami, create-workspace, bundle-ami, destroy-server");
        assert!(parse("mystery", &[], &Flags::default())
            .unwrap_err()
            .to_string()
            .contains("unknown command \"mystery\"; commands:"));
    }

    #[test]
    fn region_check() {
        check("create-server@x 5 - - mars-1", "error: argument 4 (region) \"mars-1\" is invalid: unknown region; known regions: us-east-1, us-east-2, us-west-1, us-west-2, ca-central-1, eu-west-1, eu-west-2, eu-central-1, ap-northeast-1, ap-southeast-1, ap-southeast-2, sa-east-1");
    }

    #[test]
    fn other_commands() {
        check("stop-auto-scaling@ommegang", "ok: stop-auto-scaling@ommegang");
        check("stop-auto-scaling@ommegang --keep-group", "ok: stop-auto-scaling@ommegang --keep-group");
        check("attach-instance@duvel m1.small web-server i386", "ok: attach-instance@duvel m1.small web-server i386");
        check("attach-instance@duvel - - arm64", "ok: attach-instance@duvel - - arm64");
        check(
            "attach-instance@duvel - - sparc",
            "error: argument 3 (architecture) \"sparc\" is invalid: use x86_64, i386 or arm64",
        );
        check("start-auto-scaling@chimay t3.small", "ok: start-auto-scaling@chimay t3.small");
        check("upgrade-ami@ommegang --restart", "ok: upgrade-ami@ommegang --restart");
        check(
            "upgrade-ami@ommegang --keep-group",
            "error: --keep-group does not apply to upgrade-ami: upgrade-ami@NAME [--restart]",
        );
        check("upgrade-ami@ommegang now", "error: too many arguments for upgrade-ami: upgrade-ami@NAME [--restart]");
        check("create-workspace", "ok: create-workspace");
        check("create-workspace web-server x86_64 us-west-2", "ok: create-workspace web-server x86_64 us-west-2");
        check(
            "create-workspace@w1",
            "error: create-workspace takes no server (it names its own workspace): create-workspace [ami-type] [arch] [region]",
        );
        check(
            "bundle-ami@workspace-1 web-server --copy-to=us-west-2 --copy-to=us-west-2",
            "ok: bundle-ami@workspace-1 web-server --copy-to us-west-2",
        );
        check(
            "bundle-ami@workspace-1 --copy-to=mars-1",
            "error: --copy-to \"mars-1\" is invalid: unknown region; known regions: us-east-1, us-east-2, us-west-1, us-west-2, ca-central-1, eu-west-1, eu-west-2, eu-central-1, ap-northeast-1, ap-southeast-1, ap-southeast-2, sa-east-1",
        );
        check("destroy-server@chimay --delete-data", "ok: destroy-server@chimay --delete-data");
        check("destroy-server", "error: destroy-server needs a server: destroy-server@NAME [--delete-data]");
    }
}
