//! Splitting a world into shards: which resources go together, and that absorbing the
//! shards gives the world back.

use super::*;

fn named_volume(w: &mut World, name: Option<&str>) -> VolumeId {
    let request = CreateVolumeRequest {
        client_token: None,
        zone: zone("us-east-1a"),
        size_gb: 20,
        tags: name.map(|n| tags(&[("Name", n)])).unwrap_or_default(),
        ebs: EbsSettings::default(),
        snapshot: None,
    };
    w.create_volume(&east(), request).unwrap().id
}

/// Each shard's key and the ids it holds (instances, volumes, addresses), and the
/// core's volumes; then absorbing every shard gives the world back.
fn check(w: &World, expected: &[(&str, &[&str])], core_volumes: &[&str]) {
    let mut split = w.clone();
    let keys = split.shard_keys();
    let shards = split.take_shards(&keys);
    let got: Vec<(String, Vec<String>)> = shards
        .iter()
        .map(|(key, s)| {
            let mut ids: Vec<String> = s.instances.keys().map(|i| i.to_string()).collect();
            ids.extend(s.volumes.keys().map(|v| v.to_string()));
            ids.extend(s.addresses.keys().map(|a| a.to_string()));
            (key.clone(), ids)
        })
        .collect();
    let want: Vec<(String, Vec<String>)> =
        expected.iter().map(|(k, ids)| (k.to_string(), ids.iter().map(|i| i.to_string()).collect())).collect();
    assert_eq!(got, want);
    let core: Vec<String> = split.volumes.keys().map(|v| v.to_string()).collect();
    assert_eq!(core, core_volumes);
    assert!(split.instances.is_empty() || expected.is_empty());
    for shard in shards.into_values() {
        split.absorb(shard);
    }
    assert!(split == *w, "absorbing the shards gives the world back");
    split.check_index().unwrap();
}

#[test]
fn resources_that_refer_to_each_other_share_a_shard() {
    let mut w = default_world();
    let instance = launch(&mut w, "us-east-1a"); // Name x
    w.advance_clock_to(Timestamp(T0 + 120));
    let own = named_volume(&mut w, Some("x"));
    let other = named_volume(&mut w, Some("y"));
    let untagged = named_volume(&mut w, None);
    let alone = named_volume(&mut w, Some("z"));
    let address = w.allocate_address(&east(), tags(&[("Name", "x")])).unwrap().allocation_id;
    w.advance_clock_to(Timestamp(T0 + 240));
    // The default world holds duvel's address.
    let a = address.to_string();
    check(
        &w,
        &[
            ("duvel", &["eipalloc-0001"]),
            ("x", &["i-0001", "vol-0001", &a]),
            ("y", &["vol-0002"]),
            ("z", &["vol-0004"]),
        ],
        &["vol-0003"],
    );
    w.associate_address(&east(), &address, &instance).unwrap();
    // y's volume on x's instance: one shard, named by the smaller name.
    w.attach_volume(&east(), &other, &instance, "/dev/sdg").unwrap();
    // An untagged volume attached to x's instance goes with it.
    w.attach_volume(&east(), &untagged, &instance, "/dev/sdh").unwrap();
    let _ = (own, alone);
    check(
        &w,
        &[
            ("duvel", &["eipalloc-0001"]),
            ("x", &["i-0001", "vol-0001", "vol-0002", "vol-0003", &a]),
            ("z", &["vol-0004"]),
        ],
        &[],
    );
    w.detach_volume(&east(), &other, &instance).unwrap();
    w.advance_clock_to(Timestamp(T0 + 300));
    check(
        &w,
        &[
            ("duvel", &["eipalloc-0001"]),
            ("x", &["i-0001", "vol-0001", "vol-0003", &a]),
            ("y", &["vol-0002"]),
            ("z", &["vol-0004"]),
        ],
        &[],
    );
}

#[test]
fn a_lazy_world_loads_the_shards_it_needs() {
    let mut w = default_world();
    launch(&mut w, "us-east-1a"); // Name x
    named_volume(&mut w, Some("y"));
    w.allocate_address(&east(), tags(&[("Name", "y")])).unwrap();
    let whole = w.clone();
    let keys = w.shard_keys();
    let shards = w.take_shards(&keys);
    let shards = MemoryShards::new(shards);
    let totals = shards.totals();
    w.load_lazily(std::sync::Arc::new(shards), totals);
    let loaded = |w: &World| w.loaded_shards().map(|s| s.iter().cloned().collect::<Vec<_>>());
    assert_eq!(loaded(&w), Some(vec![]));
    // Counted across shards not loaded: duvel's and y's addresses, x's live instance.
    assert_eq!(w.unloaded_addresses(&east()), 2);
    assert_eq!(w.unloaded_live(&zone("us-east-1a"), &InstanceType::new("t3.small")), 1);
    w.ensure(&[Need::Name("y".into())]);
    assert_eq!(loaded(&w), Some(vec!["y".to_string()]));
    assert_eq!(w.unloaded_addresses(&east()), 1);
    w.ensure(&[Need::Id("i-0001".into()), Need::Name("nobody".into())]);
    assert_eq!(loaded(&w), Some(vec!["x".to_string(), "y".to_string()]));
    assert_eq!(w.unloaded_live(&zone("us-east-1a"), &InstanceType::new("t3.small")), 0);
    w.ensure(&[Need::All]);
    assert_eq!(loaded(&w), None, "whole");
    assert!(w == whole, "every shard loaded gives the world back");
    assert_eq!((w.unloaded_addresses(&east()), w.load_failure()), (0, None));
}

/// A world with a group of one (its template, its instance), a volume attached and an
/// address associated, saved in a state file and read back whole and a server at a time.
#[test]
fn a_stored_world_reads_back_whole_and_a_server_at_a_time() {
    use crate::store::SimStore;
    let mut w = default_world();
    let lt = template(&mut w, "x");
    w.create_auto_scaling_group(&east(), group_request("x", &lt, 1)).unwrap();
    w.advance_clock_to(Timestamp(T0 + 120));
    let instance = w.server_instance(&ServerName::new("x")).expect("the group launched one");
    let volume = named_volume(&mut w, Some("x"));
    named_volume(&mut w, Some("y"));
    w.advance_clock_to(Timestamp(T0 + 240));
    w.attach_volume(&east(), &volume, &instance, "/dev/sdf").unwrap();
    let address = w.allocate_address(&east(), tags(&[("Name", "x")])).unwrap().allocation_id;
    w.associate_address(&east(), &address, &instance).unwrap();
    w.record("stored");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.db");
    drop(SimStore::init(&path, w.clone()).unwrap());
    let whole = SimStore::open(&path).unwrap().into_world();
    assert!(whole == w, "read back whole, equal");
    assert_eq!(whole.log(), w.log());

    let mut store = SimStore::open_lazily(&path, &|_| {}, false).unwrap();
    let mut lazy = store.take_world();
    assert!(lazy.instances().is_empty() && lazy.volumes().is_empty());
    lazy.ensure(&[Need::Id(address.to_string())]);
    let loaded: Vec<&String> = lazy.loaded_shards().unwrap().iter().collect();
    assert_eq!(loaded, ["x"], "the address's shard, with the group, instance and volume");
    assert_eq!(lazy.instances().len(), 1);
    assert_eq!(lazy.volumes().keys().collect::<Vec<_>>(), [&volume]);
    // A change to x and a save write x's shard; y's stays as it was.
    lazy.terminate_instance(&east(), &instance).unwrap();
    store.write(&mut lazy).unwrap();
    drop(store);
    let reread = SimStore::open(&path).unwrap().into_world();
    assert_eq!(reread.instances()[&instance].state, InstanceState::ShuttingDown);
    assert_eq!(reread.volumes().len(), 2, "y's volume kept");
    assert_eq!(reread.log().back().map(|e| e.message.as_str()), lazy.log().back().map(|e| e.message.as_str()));
}
