//! `cellar agent persist|spawn`: run by an instance's user data at boot. Who am I (IMDSv2),
//! then the engine's agent over the AWS backend, then the machine side (`host.rs`).

use super::Ctx;
use anyhow::Result;
use cellar_engine::agent::VolumeFlag;
use cellar_engine::model::AgentMode;
use clap::ValueEnum;
use std::path::PathBuf;

/// The command line: [`Parsed`] and the `--volume`/`--persist` flags in the order given
/// (a `--persist` belongs to the `--volume` before it, which clap's derive cannot say).
#[derive(Debug)]
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub struct Args {
    parsed: Parsed,
    volume_flags: Vec<VolumeFlag>,
}

impl clap::FromArgMatches for Args {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let parsed = Parsed::from_arg_matches(matches)?;
        let mut flags: Vec<(usize, VolumeFlag)> = Vec::new();
        for (id, make) in [("persist", VolumeFlag::Persist as fn(String) -> VolumeFlag), ("volume", VolumeFlag::Volume)]
        {
            if let (Some(at), Some(values)) = (matches.indices_of(id), matches.get_many::<String>(id)) {
                flags.extend(at.zip(values).map(|(i, v)| (i, make(v.clone()))));
            }
        }
        flags.sort_by_key(|(i, _)| *i);
        Ok(Args { parsed, volume_flags: flags.into_iter().map(|(_, f)| f).collect() })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for Args {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        Parsed::augment_args(cmd)
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Parsed::augment_args_for_update(cmd)
    }
}

#[derive(clap::Args, Debug)]
struct Parsed {
    /// persist: first boot of a new server; spawn: a replacement instance.
    mode: ModeArg,
    /// The server this instance belongs to (the instance's Name tag decides; this must match it).
    #[arg(long)]
    server: String,
    /// A directory kept on the data volume (repeatable); after a --volume, on that volume.
    #[arg(long = "persist", value_name = "DIR")]
    persist: Vec<String>,
    /// A data volume and its mount point (repeatable; without any: /dev/sdf at /data).
    #[arg(long = "volume", value_name = "DEVICE=MOUNT")]
    volume: Vec<String>,
    /// The spawn hook script to run last.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    hook: Option<PathBuf>,
    /// Do the cloud side, but print the machine-side scripts instead of running them.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    Persist,
    Spawn,
}

impl From<ModeArg> for AgentMode {
    fn from(mode: ModeArg) -> AgentMode {
        match mode {
            ModeArg::Persist => AgentMode::Persist,
            ModeArg::Spawn => AgentMode::Spawn,
        }
    }
}

pub const LONG_ABOUT: &str =
    "Run on an EC2 instance at boot; the user data cellar writes into every instance and launch \
template calls it. It asks the instance metadata service (IMDSv2; AWS_EC2_METADATA_SERVICE_ENDPOINT \
overrides the address) which instance it is and in which region, then, through the AWS API, attaches the \
data volume tagged Name=<server> cellar:role=data and associates the server's Elastic IP, waiting for a \
dying predecessor to let go of them. `persist` (first boot) copies the directories onto the data volume; \
`spawn` (a replacement instance) mounts them from it. Both then run the spawn hook.";

pub const AFTER_HELP: &str = "Needs an instance role with docs/agent-iam-policy.json: ec2:DescribeInstances, ec2:DescribeVolumes, \
ec2:AttachVolume, ec2:DescribeAddresses, ec2:AssociateAddress and autoscaling:DescribeAutoScalingInstances, and ec2:CreateTags on its own instance for the tag cellar:agent (its outcome and time, which cellar status and cellar watch read).\n\nExample (what the user data runs):\n  \
cellar agent spawn --server ommegang --persist /etc --persist /var/www --hook /etc/cellar/spawn-hook.sh";

#[cfg(not(feature = "aws"))]
pub async fn run(_ctx: &Ctx, _args: Args) -> Result<i32> {
    anyhow::bail!(
        "cellar agent runs on EC2 and needs AWS support, and this cellar was built without it\n  fix: install a cellar built with the `aws` feature (on by default): cargo install --path cli"
    )
}

#[cfg(feature = "aws")]
pub async fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    use anyhow::Context;
    use cellar_engine::agent::{self, AgentInvocation};
    use cellar_engine::model::ServerName;

    let (args, volume_flags) = (args.parsed, args.volume_flags);
    let mode = AgentMode::from(args.mode);
    let server = ServerName::parse(&args.server)?;
    let (persist, volumes) = agent::volumes_from_flags(volume_flags).map_err(anyhow::Error::msg)?;
    let spawn_hook = match &args.hook {
        Some(path) => {
            Some(std::fs::read_to_string(path).with_context(|| format!("cannot read spawn hook {}", path.display()))?)
        }
        None => None,
    };
    let identity = crate::imds::Imds::from_env()
        .identity()
        .await
        .context("asking the instance metadata service who this instance is")?;
    ctx.out.line(&format!(
        "cellar agent {mode}: instance {} in {} ({})",
        identity.instance, identity.zone, identity.region
    ))?;
    let cloud = crate::backend::aws_cloud(ctx.profile.as_deref()).await?;
    let host = crate::host::SystemHost {
        instance: identity.instance.clone(),
        region: identity.region.clone(),
        dry_run: args.dry_run,
        out: ctx.out.clone(),
    };
    let invocation = AgentInvocation { mode, server, persist, spawn_hook, volumes };
    let outcome = agent::run(&*cloud, &host, &invocation).await;
    if let Ok(report) = &outcome {
        for step in &report.steps {
            ctx.out.line(&format!("  {step}"))?;
        }
    }
    // The outcome on the instance itself (tag `cellar:agent`), where `cellar status` and
    // `cellar watch` read it from outside; the console line below says the same.
    if let Err(e) = agent::record_outcome(&*cloud, &identity.region, &identity.instance, &outcome).await {
        crate::output::stderr(&format!(
            "warning: could not tag {} with the outcome ({e}); cellar status reads the console instead\n",
            identity.instance
        ));
    }
    // The one line `cellar status` reads back from the instance's console output (cloud-init
    // sends the user data's output there).
    ctx.out.line(&agent::outcome_line(&outcome))?;
    outcome?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use crate::Cli;
    use cellar_engine::agent::VolumeFlag;
    use clap::Parser;

    /// (words after `cellar agent spawn --server x`, the volume flags in order).
    fn check(words: &[&str], expected: &[VolumeFlag]) {
        let mut argv = vec!["cellar", "agent", "spawn", "--server", "x"];
        argv.extend(words);
        let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{e}"));
        let crate::Sub::Agent(args) = cli.command else { panic!("not the agent: {argv:?}") };
        assert_eq!(args.volume_flags, expected, "{argv:?}");
    }

    #[test]
    fn persisted_directories_keep_their_place_among_the_volumes() {
        use VolumeFlag::{Persist as P, Volume as V};
        check(&["--persist", "/etc", "--persist", "/home"], &[P("/etc".into()), P("/home".into())]);
        check(
            &[
                "--volume",
                "/dev/sdf=/data",
                "--persist",
                "/etc",
                "--dry-run",
                "--volume",
                "/dev/sdg=/srv/db",
                "--persist",
                "/var/lib/mysql",
            ],
            &[V("/dev/sdf=/data".into()), P("/etc".into()), V("/dev/sdg=/srv/db".into()), P("/var/lib/mysql".into())],
        );
        check(&["--volume=/dev/sdg=/srv/it's", "--persist=/a b"], &[V("/dev/sdg=/srv/it's".into()), P("/a b".into())]);
    }
}
