//! The machine side of the agent as bash: find each data volume's disk by its volume id,
//! make its file system on first use, mount it, then copy (first boot) or bind-mount
//! (every boot) the directories persisted on it, recording the mounts in `/etc/fstab`.
//! Pure text: `cellar agent --dry-run` prints it, `cellar agent` runs it (`cli/src/host.rs`).

use super::{nvme_by_id, xen_name, VolumeSpec};
use crate::model::VolumeId;

/// A data volume the agent attached to this instance, and what goes on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostVolume {
    pub id: VolumeId,
    pub spec: VolumeSpec,
}

/// Single-quoted for bash, whatever `s` holds.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The file system label of the `n`-th volume: `cellar-data` for the first (what servers
/// made before several volumes have), `cellar-sdg` and so on for the others (ext4 labels
/// hold 16 bytes).
pub fn label(n: usize, spec: &VolumeSpec) -> String {
    if n == 0 {
        return "cellar-data".to_string();
    }
    let base = spec.device.rsplit('/').next().unwrap_or("vol");
    format!("cellar-{base}").chars().take(16).collect()
}

/// Waits for a volume's disk and prints its device: on a Nitro instance (NVMe) only its
/// by-id link names it; elsewhere the device name or its Xen form.
const FIND_DISK: &str = r#"set -euo pipefail
# find_disk VOLUME-ID BY-ID-LINK DEVICE XEN-DEVICE: the disk of one EBS volume.
find_disk() {
  for _ in $(seq 1 60); do
    if [ -e "$2" ]; then readlink -f "$2"; return 0; fi
    if ! ls /sys/class/nvme 2>/dev/null | grep -q .; then
      for candidate in "$3" "$4"; do
        if [ -b "$candidate" ]; then echo "$candidate"; return 0; fi
      done
    fi
    sleep 2
  done
  echo "cellar agent: the disk of volume $1 ($3) did not appear" >&2
  return 1
}
"#;

/// One volume: its disk, its file system (made only if it has none), its mount point.
fn mount_volume(n: usize, volume: &HostVolume) -> String {
    let spec = &volume.spec;
    let (mount, label) = (quote(&spec.mount), label(n, spec));
    let fstab = quote(&format!("LABEL={label} {} ext4 defaults,nofail 0 2", spec.mount));
    format!(
        "# volume {id} ({device}) at {mount}\ndev=$(find_disk {qid} {byid} {qdev} {xen})\nblkid \"$dev\" >/dev/null 2>&1 || mkfs.ext4 -q -L {label} \"$dev\"\nmkdir -p {mount}\nmountpoint -q {mount} || mount \"$dev\" {mount}\ngrep -qsF {space} /etc/fstab || echo {fstab} >> /etc/fstab\n",
        id = volume.id,
        device = spec.device,
        qid = quote(volume.id.as_str()),
        byid = quote(&nvme_by_id(&volume.id)),
        qdev = quote(&spec.device),
        xen = quote(&xen_name(&spec.device)),
        space = quote(&format!(" {} ", spec.mount)),
    )
}

/// The directories persisted on one volume: copied onto it when `copy` and not there yet,
/// then bind-mounted from it.
fn bind_directories(spec: &VolumeSpec, copy: bool) -> String {
    let mut script = String::new();
    for dir in &spec.persist {
        let stored = format!("{}{dir}", spec.mount.trim_end_matches('/'));
        let fstab = quote(&format!("{stored} {dir} none bind,nofail 0 0"));
        let (dir, stored) = (quote(dir), quote(&stored));
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

/// The script for `persist` (`copy`, first boot) or `mount` (a replacement instance):
/// every volume mounted first, then every volume's directories.
pub fn directories_script(volumes: &[HostVolume], copy: bool) -> String {
    let mut script = FIND_DISK.to_string();
    for (n, volume) in volumes.iter().enumerate() {
        script.push_str(&mount_volume(n, volume));
    }
    for volume in volumes {
        script.push_str(&bind_directories(&volume.spec, copy));
    }
    script
}
