//! `cellar sim ...`: the built-in simulator's world. Every change goes through
//! [`change_world`]: open the state file (locked), change the world, save it only if the
//! change succeeded, so a refused change leaves the file byte-identical.

use super::Ctx;
use anyhow::{anyhow, bail, Context, Result};
use cellar_engine::model::{InstanceId, InstanceType, Region, ServerName, VpcId, Zone};
use cellar_sim::{Sim, World};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: SimCommand,
}

/// The longest `sim advance`: the simulator's own limit (365 days).
pub const MAX_ADVANCE: Duration = Duration::from_secs(cellar_sim::world::MAX_ADVANCE_SECS);

#[derive(clap::Subcommand, Debug)]
enum SimCommand {
    /// Reset the world to the default (fixtures/worlds/default.ron).
    Init {
        /// Seed of the world's random faults (the same seed replays the same run).
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Print the world: clock, resources, recent events.
    Show,
    /// Let virtual time pass: instances boot, auto scaling replaces, agents run.
    #[command(after_help = "DURATION: e.g. 90s, 10m, 2h, 1h30m, 1d (humantime's units; at most 365d).")]
    Advance {
        /// How long, e.g. 10m, 90s, 2h, 1h30m.
        duration: String,
    },
    /// Terminate a server's instance (or an instance by id), as Amazon might.
    Terminate {
        /// A server name (its live instance) or an instance id (i-...).
        target: String,
    },
    /// Set how many more instances of TYPE fit in ZONE (e.g. us-east-1b m5.large 0).
    Capacity {
        /// A zone of the simulated world, e.g. us-east-1b.
        zone: String,
        /// An instance type, e.g. t3.medium.
        instance_type: String,
        /// How many more fit (0: launches fail with InsufficientInstanceCapacity).
        count: u32,
    },
    /// Set how many Elastic IPs the account may hold per region (AWS's default quota: 5).
    AddressQuota {
        /// Addresses per region; AllocateAddress beyond it fails with AddressLimitExceeded.
        count: u32,
    },
    /// Set what the operator's credentials (cellar's own calls) may do, as an IAM policy
    /// would: a call it does not allow, or its DryRun, is refused with UnauthorizedOperation
    /// (AccessDenied for Auto Scaling) naming the action. The default is an administrator's.
    #[command(
        after_help = "Examples:\n  cellar sim operator-policy --file docs/iam-policy.json --without ec2:RunInstances\n  \
cellar sim operator-policy ec2:Describe* autoscaling:Describe*\n  cellar sim operator-policy --admin"
    )]
    OperatorPolicy {
        /// Allowed actions (service:Operation, service:Prefix* or *).
        #[arg(conflicts_with_all = ["admin", "file"], required_unless_present_any = ["admin", "file"])]
        actions: Vec<String>,
        /// Everything allowed (the default world's operator).
        #[arg(long, conflicts_with_all = ["file", "without"])]
        admin: bool,
        /// The actions of an IAM policy document's Allow statements (e.g. docs/iam-policy.json).
        #[arg(long, value_hint = clap::ValueHint::FilePath)]
        file: Option<PathBuf>,
        /// An action to leave out (repeatable).
        #[arg(long, value_name = "ACTION")]
        without: Vec<String>,
    },
    /// Create a key pair (what a server's `key_name` names).
    KeyPair {
        /// Its name, e.g. ops.
        name: String,
        /// The region it is created in.
        #[arg(long, default_value = "us-east-1")]
        region: String,
    },
    /// Create a security group (what a server's `security_groups` names).
    SecurityGroup {
        /// Its name, unique within its VPC, e.g. db.
        name: String,
        /// The region whose default VPC gets it (unless --vpc).
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// The VPC (vpc-...) it belongs to.
        #[arg(long)]
        vpc: Option<String>,
    },
    /// Create a VPC (not the default one) with its `default` security group, and a subnet in
    /// each of the given zones (what a server's `vpc` or `subnets` names).
    Vpc {
        /// The region it is created in.
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Zone letters to give a subnet each, e.g. a b.
        zones: Vec<String>,
    },
    /// Point a DNS name at addresses (none: remove the record).
    Dns {
        /// The name, e.g. ommegang.imarc.net.
        host: String,
        /// IPv4 addresses (none: remove the record).
        addresses: Vec<String>,
    },
    /// Install a fault schedule (RON; see fixtures/worlds/faults-example.ron): throttling,
    /// transient errors, random or scheduled terminations, eventual consistency, latency,
    /// capacity changes. An empty file `()` turns every fault off.
    Faults {
        #[arg(value_hint = clap::ValueHint::FilePath)]
        file: PathBuf,
    },
    /// The event trace with virtual timestamps (the world keeps its last 10,000 events).
    Log {
        /// Only the last N entries.
        #[arg(long)]
        last: Option<usize>,
    },
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let said = match args.command {
        SimCommand::Init { seed } => {
            let mut world = cellar_sim::default_world();
            world.reseed(seed);
            crate::backend::init_store(&ctx.sim_state, world)?;
            format!("Simulator world reset to the default (seed {seed}) in {}\n", ctx.sim_state.display())
        }
        SimCommand::Show => read_world(ctx, |world| world.render_summary())?,
        SimCommand::Log { last } => read_world(ctx, |world| world.render_log(last))?,
        SimCommand::Advance { duration } => advance(ctx, &duration)?,
        SimCommand::Faults { file } => install_faults(ctx, &file)?,
        SimCommand::Terminate { target } => change_world(ctx, |world| terminate(world, &target))?,
        SimCommand::Capacity { zone, instance_type, count } => change_world(ctx, |world| {
            world
                .set_capacity(&Zone::new(zone.clone()), &InstanceType::new(instance_type.clone()), count)
                .map_err(|e| anyhow!(e))?;
            Ok(format!("{zone} now has room for {count} more {instance_type} instance(s).\n"))
        })?,
        SimCommand::AddressQuota { count } => change_world(ctx, |world| {
            world.set_address_limit(count).map_err(|e| anyhow!("sim address-quota: {e}"))?;
            Ok(format!("The account may now hold {count} Elastic IP(s) per region.\n"))
        })?,
        SimCommand::OperatorPolicy { actions, admin, file, without } => {
            let actions = if admin { None } else { Some(policy_actions(actions, file.as_deref(), &without)?) };
            change_world(ctx, |world| {
                world.set_operator_actions(actions.as_deref()).map_err(|e| anyhow!("sim operator-policy: {e}"))?;
                Ok(match &actions {
                    None => "The operator may now do everything (an administrator).\n".to_string(),
                    Some(a) if a.is_empty() => "The operator may now do nothing.\n".to_string(),
                    Some(a) => format!("The operator may now do: {}\n", a.join(", ")),
                })
            })?
        }
        SimCommand::KeyPair { name, region } => change_world(ctx, |world| {
            world.add_key_pair(&Region::new(region.clone()), &name).map_err(|e| anyhow!("sim key-pair: {e}"))?;
            Ok(format!("Key pair {name} created in {region}.\n"))
        })?,
        SimCommand::SecurityGroup { name, region, vpc } => {
            change_world(ctx, |world| security_group(world, &name, &region, vpc.as_deref()))?
        }
        SimCommand::Vpc { region, zones } => change_world(ctx, |world| vpc(world, &region, &zones))?,
        SimCommand::Dns { host, addresses } => change_world(ctx, |world| {
            world.set_dns(&host, addresses.clone()).map_err(|e| anyhow!(e))?;
            let to = if addresses.is_empty() { "(no record)".to_string() } else { addresses.join(", ") };
            Ok(format!("{host} → {to}\n"))
        })?,
    };
    ctx.out.print(&said)?;
    Ok(0)
}

/// Opens the state file (locked), applies `change` to its world (taken out of the store, not
/// copied), and saves it only if `change` succeeds: a refused change is never written.
/// Returns what `change` says.
fn change_world(ctx: &Ctx, change: impl FnOnce(&mut World) -> Result<String>) -> Result<String> {
    let mut store = crate::backend::open_store(&ctx.sim_state)?;
    let mut world = store.take_world();
    let said = change(&mut world)?;
    store.write(&mut world)?;
    Ok(said)
}

/// Opens the state file (shared lock: other readers run meanwhile) to read it; nothing is saved.
fn read_world(ctx: &Ctx, read: impl FnOnce(&World) -> String) -> Result<String> {
    Ok(read(crate::backend::open_store_shared(&ctx.sim_state)?.world()))
}

/// `sim advance DURATION`: parsed and bounded before the state file is opened.
fn advance(ctx: &Ctx, text: &str) -> Result<String> {
    let duration = parse_advance(text)?;
    let runtime = ctx.runtime()?;
    change_world(ctx, |world| {
        world.check_advance(duration).map_err(|e| anyhow!("sim advance: {e}"))?;
        let empty = World::new(cellar_engine::model::Timestamp(0), Vec::new());
        let sim = Sim::new(std::mem::replace(world, empty));
        runtime.block_on(sim.advance(duration));
        *world = sim.into_world();
        Ok(format!("Virtual clock now {}\n", world.now().rfc3339()))
    })
}

/// A duration as people write it (humantime: `90s`, `10m`, `1h30m`, `2d`), at most [`MAX_ADVANCE`].
pub fn parse_advance(text: &str) -> Result<Duration> {
    let fix = "fix: give a duration such as 90s, 10m, 1h30m or 2d (at most 365d)";
    let duration = humantime::parse_duration(text)
        .map_err(|e| anyhow!("sim advance: {text:?} is not a duration: {e}\n  {fix}"))?;
    if duration > MAX_ADVANCE {
        bail!(
            "sim advance: {text} is longer than the longest advance, 365 days\n  fix: advance at most 365d at a time (repeat the command for more)"
        );
    }
    Ok(duration)
}

fn install_faults(ctx: &Ctx, file: &std::path::Path) -> Result<String> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read fault schedule {}", file.display()))?;
    let faults = cellar_sim::parse_faults(&text).map_err(|e| {
        anyhow!(
            "{}:{}:{}: not a fault schedule: {}\n  fix: see fixtures/worlds/faults-example.ron for every field",
            file.display(),
            e.position.line,
            e.position.col,
            e.code
        )
    })?;
    change_world(ctx, |world| {
        world.set_faults(faults).map_err(|e| anyhow!("{}: {e}", file.display()))?;
        Ok(format!("Fault schedule {} installed.\n", file.display()))
    })
}

/// The operator's allowed actions: those given, or those of the policy file's Allow
/// statements, less `without` (each of which must be among them, so a typo is not silent).
fn policy_actions(given: Vec<String>, file: Option<&std::path::Path>, without: &[String]) -> Result<Vec<String>> {
    let mut actions = match file {
        None => given,
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read IAM policy {}", path.display()))?;
            allowed_actions(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?
        }
    };
    for action in without {
        let before = actions.len();
        actions.retain(|a| !a.eq_ignore_ascii_case(action));
        if actions.len() == before {
            bail!("sim operator-policy: --without {action}: the policy does not allow {action}\n  fix: name an action the policy lists");
        }
    }
    Ok(actions)
}

/// The actions of an IAM policy document's Allow statements (`Action`: a string or a
/// list). Deny statements and `NotAction` are not modelled, and refused rather than ignored.
pub fn allowed_actions(text: &str) -> Result<Vec<String>, String> {
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let statements = match doc.get("Statement") {
        Some(serde_json::Value::Array(list)) => list.clone(),
        Some(one @ serde_json::Value::Object(_)) => vec![one.clone()],
        _ => return Err("not an IAM policy: no Statement".to_string()),
    };
    let mut actions = Vec::new();
    for (n, statement) in statements.iter().enumerate() {
        if statement.get("Effect").and_then(|e| e.as_str()) != Some("Allow") || statement.get("NotAction").is_some() {
            return Err(format!(
                "statement {n}: only Allow statements with Action are modelled\n  fix: list what the operator may do in Allow statements"
            ));
        }
        match statement.get("Action") {
            Some(serde_json::Value::String(a)) => actions.push(a.clone()),
            Some(serde_json::Value::Array(list)) => {
                for a in list {
                    actions.push(a.as_str().ok_or(format!("statement {n}: an Action is not a string"))?.to_string());
                }
            }
            _ => return Err(format!("statement {n}: no Action")),
        }
    }
    Ok(actions)
}

fn terminate(world: &mut World, target: &str) -> Result<String> {
    let id = if target.starts_with("i-") {
        InstanceId::new(target)
    } else {
        let name = ServerName::parse(target)?;
        world.server_instance(&name).ok_or_else(|| {
            anyhow!("server {name} has no live instance in the simulator\n  fix: `cellar status {name}` shows what it has; `cellar sim show` lists every instance")
        })?
    };
    if let Some(state) = world.instances().get(&id).map(|i| i.state).filter(|s| !s.is_alive()) {
        return Ok(format!("Instance {id} is already {state}: nothing to terminate.\n"));
    }
    world.terminate_instance_by_amazon(&id)?;
    Ok(format!("Instance {id} is shutting down (terminated by Amazon).\n"))
}

/// `sim security-group`: in `vpc`, else the region's default VPC.
fn security_group(world: &mut World, name: &str, region: &str, vpc: Option<&str>) -> Result<String> {
    let region = Region::new(region);
    let vpc = match vpc {
        Some(v) => VpcId::new(v),
        None => world
            .vpcs()
            .values()
            .find(|v| v.region == region && v.is_default)
            .map(|v| v.id.clone())
            .ok_or_else(|| anyhow!("sim security-group: {region} has no default VPC in this world; give --vpc"))?,
    };
    let id = world.add_security_group(&vpc, name).map_err(|e| anyhow!("sim security-group: {e}"))?;
    Ok(format!("Security group {id} ({name}) created in {vpc}.\n"))
}

/// `sim vpc`: a VPC with a subnet in each zone letter given.
fn vpc(world: &mut World, region: &str, zones: &[String]) -> Result<String> {
    let region = Region::new(region);
    let letters: Vec<char> = zones
        .iter()
        .map(|z| match z.chars().collect::<Vec<_>>().as_slice() {
            [c] if c.is_ascii_lowercase() => Ok(*c),
            _ => Err(anyhow!("sim vpc: {z:?} is not a zone letter (such as a)")),
        })
        .collect::<Result<_>>()?;
    let id = world.add_vpc(&region, false).map_err(|e| anyhow!("sim vpc: {e}"))?;
    let mut said = format!("VPC {id} created in {region}.\n");
    for letter in letters {
        let subnet = world.add_subnet(&id, &Zone::in_region(&region, letter)).map_err(|e| anyhow!("sim vpc: {e}"))?;
        said.push_str(&format!("Subnet {subnet} created in {}.\n", Zone::in_region(&region, letter)));
    }
    Ok(said)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<u64>) {
        assert_eq!(parse_advance(input).ok().map(|d| d.as_secs()), expected, "input {input:?}");
    }

    fn check_policy(text: &str, expected: Result<&[&str], &str>) {
        let got = allowed_actions(text);
        match expected {
            Ok(actions) => {
                assert_eq!(got.as_deref(), Ok(&actions.iter().map(|a| a.to_string()).collect::<Vec<_>>()[..]))
            }
            Err(needle) => assert!(got.as_ref().is_err_and(|e| e.contains(needle)), "{text}: {got:?}"),
        }
    }

    #[test]
    fn policies() {
        check_policy(r#"{"Statement": [{"Effect": "Allow", "Action": ["ec2:A", "ec2:B"]}]}"#, Ok(&["ec2:A", "ec2:B"]));
        check_policy(r#"{"Statement": {"Effect": "Allow", "Action": "*"}}"#, Ok(&["*"]));
        check_policy(r#"{"Statement": [{"Effect": "Deny", "Action": "*"}]}"#, Err("only Allow"));
        check_policy(r#"{"Statement": [{"Effect": "Allow", "NotAction": "ec2:A"}]}"#, Err("only Allow"));
        check_policy(r#"{"Statement": [{"Effect": "Allow", "Action": [1]}]}"#, Err("not a string"));
        check_policy(r#"{"Version": "2012-10-17"}"#, Err("no Statement"));
        check_policy("{", Err("not JSON"));
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/iam-policy.json")).unwrap();
        assert!(allowed_actions(&docs).unwrap().contains(&"ec2:RunInstances".to_string()));
    }

    #[test]
    fn durations() {
        check("90s", Some(90));
        check("10m", Some(600));
        check("1h30m", Some(5400));
        check("2d", Some(172_800));
        check("365d", Some(365 * 86_400));
        check("366d", None);
        check("20000000000000000s", None);
        check("18446744073709551615h", None);
        check("10", None);
        check("m", None);
        check("", None);
        check("5x", None);
    }
}
