//! `cellar config SERVER`: the effective configuration, each value with its source.

use super::Ctx;
use anyhow::Result;
use cellar_engine::model::ServerName;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A configured server (config/servers/<SERVER>.ron).
    server: String,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<i32> {
    let tree = ctx.load_config()?;
    let config = tree.server(&ServerName::parse(&args.server)?)?;
    let entries = config.entries();
    let width = entries.iter().map(|(k, _, _)| k.len()).max().unwrap_or(0);
    let mut text = format!("Effective configuration of {} (later layers override earlier ones):\n", config.name);
    for (key, value, source) in entries {
        let mut lines = value.lines();
        text.push_str(&format!("  {key:<width$} = {:<40} # {source}\n", lines.next().unwrap_or("")));
        for line in lines {
            text.push_str(&format!("  {:<width$}   {line}\n", ""));
        }
    }
    ctx.out.print(&text)?;
    Ok(0)
}
