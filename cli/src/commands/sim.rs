//! `cellar sim ...`: the built-in simulator's world. Every change goes through
//! [`change_world`]: open the state file (locked), change a copy of the world, save it only
//! if the change succeeded, so a refused change leaves the file byte-identical.

use super::Ctx;
use anyhow::{anyhow, bail, Context, Result};
use cellar_engine::model::{InstanceId, InstanceType, Region, ServerName, VpcId, Zone};
use cellar_sim::{Sim, SimStore, World};
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
    /// The event trace with virtual timestamps.
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
            SimStore::init(&ctx.sim_state, world)?;
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

/// Opens the state file (locked), applies `change` to a copy of its world, and saves the
/// copy only if `change` succeeds. Returns what `change` says.
fn change_world(ctx: &Ctx, change: impl FnOnce(&mut World) -> Result<String>) -> Result<String> {
    let mut store = SimStore::open(&ctx.sim_state)?;
    let mut world = store.world().clone();
    let said = change(&mut world)?;
    store.save(&world)?;
    Ok(said)
}

/// Opens the state file (locked) to read it; nothing is saved.
fn read_world(ctx: &Ctx, read: impl FnOnce(&World) -> String) -> Result<String> {
    Ok(read(SimStore::open(&ctx.sim_state)?.world()))
}

/// `sim advance DURATION`: parsed and bounded before the state file is opened.
fn advance(ctx: &Ctx, text: &str) -> Result<String> {
    let duration = parse_advance(text)?;
    let runtime = ctx.runtime()?;
    change_world(ctx, |world| {
        world.check_advance(duration).map_err(|e| anyhow!("sim advance: {e}"))?;
        let sim = Sim::new(world.clone());
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
