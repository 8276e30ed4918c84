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

impl Command {
    pub fn server(&self) -> Option<&ServerName> {
        match self {
            Command::CreateServer(c) => Some(&c.server),
        }
    }
}

impl fmt::Display for Command {
    /// The canonical command line, as saved in a plan (`create-server@ommegang 20 - - - b`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::CreateServer(c) => {
                write!(f, "create-server@{}", c.server)?;
                let mut args: Vec<String> = vec![
                    c.ebs_size_gb.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                    opt(&c.instance_type),
                    opt(&c.ami_type),
                    opt(&c.region),
                    c.zone_letter.map(|z| z.to_string()).unwrap_or_else(|| "-".into()),
                ];
                while args.last().is_some_and(|a| a == "-") {
                    args.pop();
                }
                for a in args {
                    write!(f, " {a}")?;
                }
                Ok(())
            }
        }
    }
}

fn opt<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// The seed's commands cellar knows about, with their argument synopsis.
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
    #[error("{name} is not available in this version of cellar yet")]
    NotYetAvailable { name: String },
    #[error("{command} needs a server: {synopsis}")]
    MissingServer { command: &'static str, synopsis: &'static str },
    #[error(transparent)]
    BadServerName(#[from] InvalidServerName),
    #[error("{command} needs {what}: {synopsis}")]
    MissingArgument { command: &'static str, what: &'static str, synopsis: &'static str },
    #[error("argument {position} ({what}) {value:?} is invalid: {reason}")]
    BadArgument { position: usize, what: &'static str, value: String, reason: String },
    #[error("too many arguments for {command}: {synopsis}")]
    TooManyArguments { command: &'static str, synopsis: &'static str },
}

/// Parses `target` (`create-server@ommegang`) and its positional arguments.
pub fn parse(target: &str, args: &[String]) -> Result<Command, CommandError> {
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
    match command {
        "create-server" => {
            let server = server.ok_or(CommandError::MissingServer { command, synopsis })?;
            let server = ServerName::parse(server)?;
            if args.len() > 5 {
                return Err(CommandError::TooManyArguments { command, synopsis });
            }
            let arg = |i: usize| args.get(i).map(String::as_str).filter(|a| *a != "-");
            let ebs_size_gb = arg(0).map(|v| parse_ebs_size(1, v)).transpose()?;
            let instance_type = arg(1).map(|v| parse_instance_type(2, v)).transpose()?;
            let ami_type = arg(2).map(|v| parse_ami_type(3, v)).transpose()?;
            let region = arg(3).map(|v| parse_region(4, v)).transpose()?;
            let zone_letter = arg(4).map(|v| parse_zone_letter(5, v)).transpose()?;
            Ok(Command::CreateServer(CreateServer {
                server,
                ebs_size_gb,
                instance_type,
                ami_type,
                region,
                zone_letter,
            }))
        }
        other => Err(CommandError::NotYetAvailable { name: other.to_string() }),
    }
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
        let got = match parse(target, &args) {
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
        assert!(parse("mystery", &[]).unwrap_err().to_string().contains("unknown command \"mystery\"; commands:"));
    }

    #[test]
    fn region_check() {
        check("create-server@x 5 - - mars-1", "error: argument 4 (region) \"mars-1\" is invalid: unknown region; known regions: us-east-1, us-east-2, us-west-1, us-west-2, ca-central-1, eu-west-1, eu-west-2, eu-central-1, ap-northeast-1, ap-southeast-1, ap-southeast-2, sa-east-1");
    }
}
