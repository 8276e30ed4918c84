//! `cellar agent` on a real instance: the machine side of the agent.
//!
//! The cloud side (find the data volume and the Elastic IP by tag, attach, associate) is
//! the engine's `agent::run`, the same code the simulator runs on boot. This module is
//! what it does to the machine: make the data volume's file system on first boot, mount
//! it at `/data`, copy (first boot) or bind-mount (every boot) the persisted directories
//! from it, record the mounts in `/etc/fstab`, and run the spawn hook. Each is a bash
//! script; `--dry-run` prints the scripts instead of running them.

use crate::output::Output;
use cellar_engine::agent::{AgentHost, DATA_DEVICE};
use cellar_engine::model::{InstanceId, Region};
use std::io::Write;
use std::process::{Command, Stdio};

/// Where the data volume is mounted.
pub const DATA_MOUNT: &str = "/data";

pub struct SystemHost {
    pub instance: InstanceId,
    pub region: Region,
    /// Print the scripts instead of running them.
    pub dry_run: bool,
    /// Where `--dry-run` prints them.
    pub out: Output,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The data volume's device, its file system (made only if it has none) and `/data`.
fn mount_data_volume() -> String {
    format!(
        r#"set -euo pipefail
# The volume is attached as {DATA_DEVICE}; Xen instances name it /dev/xvdf, Nitro instances
# expose it as NVMe with a udev link back to {DATA_DEVICE} (Amazon's images ship the rule).
dev=""
for _ in $(seq 1 60); do
  for candidate in {DATA_DEVICE} /dev/xvdf; do
    if [ -b "$candidate" ]; then dev="$candidate"; break 2; fi
  done
  sleep 2
done
[ -n "$dev" ] || {{ echo "cellar agent: data volume device {DATA_DEVICE} did not appear" >&2; exit 1; }}
blkid "$dev" >/dev/null 2>&1 || mkfs.ext4 -q -L cellar-data "$dev"
mkdir -p {DATA_MOUNT}
mountpoint -q {DATA_MOUNT} || mount "$dev" {DATA_MOUNT}
grep -qs ' {DATA_MOUNT} ' /etc/fstab || echo 'LABEL=cellar-data {DATA_MOUNT} ext4 defaults,nofail 0 2' >> /etc/fstab
"#
    )
}

/// The script for `persist` (copy = true, first boot) or `mount` (copy = false).
pub fn directories_script(directories: &[String], copy: bool) -> String {
    let mut script = mount_data_volume();
    for dir in directories {
        let fstab = quote(&format!("{DATA_MOUNT}{dir} {dir} none bind,nofail 0 0"));
        let (dir, stored) = (quote(dir), quote(&format!("{DATA_MOUNT}{dir}")));
        if copy {
            script.push_str(&format!(
                "if [ ! -e {stored} ]; then mkdir -p {stored}; if [ -d {dir} ]; then cp -a {dir}/. {stored}/; fi; fi\n"
            ));
        }
        script.push_str(&format!(
            "mkdir -p {dir}\nmountpoint -q {dir} || mount --bind {stored} {dir}\ngrep -qsxF {fstab} /etc/fstab || echo {fstab} >> /etc/fstab\n"
        ));
    }
    script
}

impl SystemHost {
    fn run(&self, what: &str, script: &str) -> Result<(), String> {
        if self.dry_run {
            return self
                .out
                .print(&format!("--- {what} (dry run: not executed)\n{script}---\n"))
                .map_err(|e| e.to_string());
        }
        let mut child = Command::new("bash")
            .arg("-s")
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start bash for {what}: {e}"))?;
        let mut stdin = child.stdin.take().ok_or_else(|| format!("cannot pass the {what} script to bash: no stdin"))?;
        stdin.write_all(script.as_bytes()).map_err(|e| format!("cannot pass the {what} script to bash: {e}"))?;
        drop(stdin);
        let status = child.wait().map_err(|e| format!("{what}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{what} script exited with {status}"))
        }
    }
}

impl AgentHost for SystemHost {
    fn identity(&self) -> (InstanceId, Region) {
        (self.instance.clone(), self.region.clone())
    }

    fn persist(&self, directories: &[String]) -> Result<(), String> {
        self.run("persist", &directories_script(directories, true))
    }

    fn mount(&self, directories: &[String]) -> Result<(), String> {
        self.run("mount", &directories_script(directories, false))
    }

    fn run_hook(&self, script: &str) -> Result<(), String> {
        self.run("spawn hook", script)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated scripts are valid bash, for awkward directory names too.
    #[test]
    fn scripts_parse() {
        for (dirs, copy) in
            [(vec!["/etc".to_string(), "/var/www".into()], true), (vec!["/srv/it's here".into()], false)]
        {
            let script = directories_script(&dirs, copy);
            let out = Command::new("bash").arg("-n").arg("-c").arg(&script).output().expect("bash");
            assert!(out.status.success(), "{}\n{script}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(script.contains("cp -a"), copy, "{script}");
        }
    }
}
