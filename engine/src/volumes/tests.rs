use super::script::{directories_script, label, HostVolume};
use super::*;
use crate::model::{Tags, Zone};

fn check_device(device: &str, expected: Option<&str>) {
    assert_eq!(device_problem(device).as_deref(), expected, "{device}");
}

#[test]
fn device_names_follow_ec2s_naming() {
    check_device("/dev/sdf", None);
    check_device("/dev/sdp", None);
    check_device("/dev/xvdg", None);
    check_device("/dev/sdz", None);
    check_device("/dev/sda", Some("/dev/sda is the root device's name"));
    check_device("/dev/sda1", Some("/dev/sda1 is the root device's name"));
    check_device("/dev/xvda", Some("/dev/xvda is the root device's name"));
    check_device("/dev/sdf1", Some("\"/dev/sdf1\" is not a device name EC2 takes for an EBS volume"));
    check_device("sdf", Some("\"sdf\" is not a device name EC2 takes for an EBS volume"));
    check_device("/dev/nvme1n1", Some("\"/dev/nvme1n1\" is not a device name EC2 takes for an EBS volume"));
    check_device("/dev/sdF", Some("\"/dev/sdF\" is not a device name EC2 takes for an EBS volume"));
}

#[test]
fn disks_are_named_by_volume_id_and_xen_device() {
    let cases = [("vol-0123456789abcdef0", "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0")];
    for (id, expected) in cases {
        assert_eq!(nvme_by_id(&VolumeId::new(id)), expected);
    }
    for (device, expected) in [("/dev/sdf", "/dev/xvdf"), ("/dev/sdg", "/dev/xvdg"), ("/dev/xvdh", "/dev/xvdh")] {
        assert_eq!(xen_name(device), expected);
    }
}

fn volume(id: &str, role: Option<&str>, device: Option<&str>) -> Volume {
    let mut tags = Tags::new();
    tags.extend(role.map(|r| (ROLE_TAG.to_string(), r.to_string())));
    tags.extend(device.map(|d| (DEVICE_TAG.to_string(), d.to_string())));
    Volume {
        id: VolumeId::new(id),
        state: VolumeState::Available,
        zone: Zone::new("us-east-1a"),
        size_gb: 20,
        attached_to: None,
        device: None,
        tags,
        ebs: Default::default(),
    }
}

fn spec(device: &str, mount: &str) -> VolumeSpec {
    VolumeSpec { device: device.into(), mount: mount.into(), persist: vec![] }
}

/// (specs, volumes as (id, role, device tag)) → (each spec's volume id, the unclaimed ids).
fn check_match(
    specs: &[VolumeSpec],
    volumes: &[(&str, Option<&str>, Option<&str>)],
    expected: (&[Option<&str>], &[&str]),
) {
    let volumes: Vec<Volume> = volumes.iter().map(|(id, role, device)| volume(id, *role, *device)).collect();
    let m = match_volumes(specs, &volumes);
    let pairs: Vec<Option<&str>> = m.pairs.iter().map(|(_, v)| v.map(|v| v.id.as_str())).collect();
    let unclaimed: Vec<&str> = m.unclaimed.iter().map(|v| v.id.as_str()).collect();
    assert_eq!((pairs.as_slice(), unclaimed.as_slice()), expected);
}

#[test]
fn volumes_match_their_configuration_by_device_tag() {
    let one = [spec("/dev/sdf", "/data")];
    let two = [spec("/dev/sdf", "/data"), spec("/dev/sdg", "/srv/db")];
    let moved = [spec("/dev/sdh", "/data"), spec("/dev/sdg", "/srv/db")];
    // Today's one untagged volume is the first volume.
    check_match(&one, &[("vol-1", Some("data"), None)], (&[Some("vol-1")], &[]));
    // Not a data volume: ignored.
    check_match(&one, &[("vol-1", None, None)], (&[None], &[]));
    check_match(
        &two,
        &[("vol-2", Some("data"), Some("/dev/sdg")), ("vol-1", Some("data"), None)],
        (&[Some("vol-1"), Some("vol-2")], &[]),
    );
    // The first volume untagged, whatever device the configuration now gives it.
    check_match(
        &moved,
        &[("vol-1", Some("data"), None), ("vol-2", Some("data"), Some("/dev/sdg"))],
        (&[Some("vol-1"), Some("vol-2")], &[]),
    );
    // A second volume missing; a volume the configuration no longer names.
    check_match(&two, &[("vol-1", Some("data"), None)], (&[Some("vol-1"), None], &[]));
    check_match(
        &one,
        &[("vol-1", Some("data"), None), ("vol-3", Some("data"), Some("/dev/sdk"))],
        (&[Some("vol-1")], &["vol-3"]),
    );
    // A tagged first volume is found by its tag.
    check_match(&moved, &[("vol-1", Some("data"), Some("/dev/sdh"))], (&[Some("vol-1"), None], &[]));
}

#[test]
fn devices_come_from_the_tag_or_the_first_volume() {
    assert_eq!(device_of(&volume("vol-1", Some("data"), None), "/dev/sdh"), "/dev/sdh");
    assert_eq!(device_of(&volume("vol-1", Some("data"), Some("/dev/sdg")), "/dev/sdh"), "/dev/sdg");
}

fn host(id: &str, device: &str, mount: &str, persist: &[&str]) -> HostVolume {
    HostVolume {
        id: VolumeId::new(id),
        spec: VolumeSpec {
            device: device.into(),
            mount: mount.into(),
            persist: persist.iter().map(|s| s.to_string()).collect(),
        },
    }
}

/// The script parses as bash and holds `expected` lines in that order (others may sit between).
fn check_script(volumes: &[HostVolume], copy: bool, expected: &[&str]) {
    let script = directories_script(volumes, copy);
    let out = std::process::Command::new("bash").arg("-n").arg("-c").arg(&script).output().expect("bash");
    assert!(out.status.success(), "{}\n{script}", String::from_utf8_lossy(&out.stderr));
    let mut lines = script.lines();
    for want in expected {
        assert!(lines.any(|l| l == *want), "missing (or out of order) {want:?} in\n{script}");
    }
    assert_eq!(script.contains("cp -a"), copy, "{script}");
}

#[test]
fn one_volume_scripts() {
    let v = host("vol-0001", "/dev/sdf", "/data", &["/etc", "/var/www"]);
    check_script(
        std::slice::from_ref(&v),
        true,
        &[
            "dev=$(find_disk 'vol-0001' '/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0001' '/dev/sdf' '/dev/xvdf')",
            "blkid \"$dev\" >/dev/null 2>&1 || mkfs.ext4 -q -L cellar-data \"$dev\"",
            "mountpoint -q '/data' || mount \"$dev\" '/data'",
            "grep -qsF ' /data ' /etc/fstab || echo 'LABEL=cellar-data /data ext4 defaults,nofail 0 2' >> /etc/fstab",
            "if [ ! -e '/data/etc' ]; then mkdir -p '/data/etc'; if [ -d '/etc' ]; then cp -a '/etc'/. '/data/etc'/; fi; fi",
            "mountpoint -q '/etc' || mount --bind '/data/etc' '/etc'",
            "mountpoint -q '/var/www' || mount --bind '/data/var/www' '/var/www'",
        ],
    );
    check_script(&[v], false, &["mountpoint -q '/etc' || mount --bind '/data/etc' '/etc'"]);
}

#[test]
fn two_volume_scripts_mount_every_volume_before_binding() {
    let volumes = [
        host("vol-0001", "/dev/sdf", "/data", &["/etc"]),
        host("vol-0002", "/dev/sdg", "/srv/db", &["/var/lib/mysql"]),
    ];
    check_script(
        &volumes,
        false,
        &[
            "dev=$(find_disk 'vol-0001' '/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0001' '/dev/sdf' '/dev/xvdf')",
            "mountpoint -q '/data' || mount \"$dev\" '/data'",
            "dev=$(find_disk 'vol-0002' '/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0002' '/dev/sdg' '/dev/xvdg')",
            "blkid \"$dev\" >/dev/null 2>&1 || mkfs.ext4 -q -L cellar-sdg \"$dev\"",
            "mountpoint -q '/srv/db' || mount \"$dev\" '/srv/db'",
            "mountpoint -q '/etc' || mount --bind '/data/etc' '/etc'",
            "mountpoint -q '/var/lib/mysql' || mount --bind '/srv/db/var/lib/mysql' '/var/lib/mysql'",
        ],
    );
}

#[test]
fn hostile_names_stay_quoted() {
    let volumes = [host("vol-0001", "/dev/sdf", "/srv/it's $(touch pwned)", &["/var/`touch pwned2`", "/srv/a'b"])];
    check_script(
        &volumes,
        true,
        &[
            "mountpoint -q '/srv/it'\\''s $(touch pwned)' || mount \"$dev\" '/srv/it'\\''s $(touch pwned)'",
            "mountpoint -q '/var/`touch pwned2`' || mount --bind '/srv/it'\\''s $(touch pwned)/var/`touch pwned2`' '/var/`touch pwned2`'",
            "mountpoint -q '/srv/a'\\''b' || mount --bind '/srv/it'\\''s $(touch pwned)/srv/a'\\''b' '/srv/a'\\''b'",
        ],
    );
}

#[test]
fn labels_fit_ext4() {
    for (n, device, expected) in
        [(0, "/dev/sdh", "cellar-data"), (1, "/dev/sdg", "cellar-sdg"), (2, "/dev/xvdz", "cellar-xvdz")]
    {
        let l = label(n, &spec(device, "/x"));
        assert_eq!(l, expected);
        assert!(l.len() <= 16);
    }
}
