//! Lost responses ([`Faults::lost_responses`]) and the CreateVolume client token: each rule
//! below failed on the simulator before them (a retried create made a second resource).

use super::*;
use crate::store::default_world;
use crate::Sim;
use cellar_engine::cloud::{Cloud, CloudErrorKind, CreateVolumeRequest, Filter};
use cellar_engine::model::*;

fn east() -> Region {
    Region::new("us-east-1")
}

fn sim_losing(lost: LostResponses) -> Sim {
    let mut world = default_world();
    world.reseed(7);
    world.set_faults(Faults { lost_responses: Some(lost), ..Faults::default() }).unwrap();
    Sim::new(world)
}

fn volume(token: Option<&str>, size_gb: u32) -> CreateVolumeRequest {
    CreateVolumeRequest {
        client_token: token.map(String::from),
        zone: Zone::new("us-east-1a"),
        size_gb,
        tags: [("Name".to_string(), "ommegang".to_string())].into(),
        ebs: EbsSettings::default(),
        snapshot: None,
    }
}

fn is_lost(kind: &CloudErrorKind) -> bool {
    matches!(kind, CloudErrorKind::InternalError | CloudErrorKind::Unavailable)
}

#[tokio::test]
async fn a_lost_response_takes_effect_and_fails_at_the_kth_covered_call() {
    // The 2nd succeeding CreateVolume loses its response; AllocateAddress is not covered.
    let sim = sim_losing(LostResponses { rate: 0.0, at_call: Some(2), apis: vec!["CreateVolume".into()] });
    let r = east();
    sim.allocate_address(&r, Tags::new()).await.expect("not covered");
    sim.create_volume(&r, volume(None, 20)).await.expect("the first call is answered");
    let lost = sim.create_volume(&r, volume(None, 20)).await.expect_err("the second is lost");
    assert!(is_lost(&lost.kind), "{lost:?}");
    sim.create_volume(&r, volume(None, 20)).await.expect("once only");
    let volumes = sim.describe_volumes(&r, &Filter::Server(ServerName::new("ommegang"))).await.unwrap();
    assert_eq!(volumes.len(), 3, "the lost call's volume exists: {volumes:?}");
}

#[tokio::test]
async fn a_rate_of_one_loses_every_covered_response_and_keeps_every_change() {
    let sim = sim_losing(LostResponses { rate: 1.0, ..LostResponses::default() });
    let r = east();
    let before = sim.describe_addresses(&r, &Filter::All).await.unwrap().len();
    for _ in 0..3 {
        let e = sim.allocate_address(&r, Tags::new()).await.expect_err("lost");
        assert!(is_lost(&e.kind), "{e:?}");
    }
    assert_eq!(sim.describe_addresses(&r, &Filter::All).await.unwrap().len(), before + 3);
    sim.describe_volumes(&r, &Filter::All).await.expect("describes are not mutating: answered");
}

#[tokio::test]
async fn a_volume_client_token_returns_the_first_volume_even_after_it_is_gone() {
    let sim = sim_losing(LostResponses::default());
    let r = east();
    let first = sim.create_volume(&r, volume(Some("tok-1"), 20)).await.unwrap();
    let again = sim.create_volume(&r, volume(Some("tok-1"), 20)).await.unwrap();
    assert_eq!(again.id, first.id);
    sim.advance(std::time::Duration::from_secs(60)).await;
    sim.delete_volume(&r, &first.id).await.unwrap();
    sim.advance(std::time::Duration::from_secs(25 * 3600)).await;
    let after = sim.create_volume(&r, volume(Some("tok-1"), 20)).await.unwrap();
    assert_eq!(after.id, first.id, "a day after the volume is gone, still the first answer");
    let server = Filter::Server(ServerName::new("ommegang"));
    assert!(sim.describe_volumes(&r, &server).await.unwrap().is_empty(), "and nothing new");
    let other = sim.create_volume(&r, volume(Some("tok-2"), 20)).await.unwrap();
    assert_ne!(other.id, first.id, "another token, another volume");
}

#[tokio::test]
async fn a_volume_client_token_with_other_parameters_is_refused() {
    let sim = sim_losing(LostResponses::default());
    let r = east();
    sim.create_volume(&r, volume(Some("tok-1"), 20)).await.unwrap();
    let e = sim.create_volume(&r, volume(Some("tok-1"), 30)).await.expect_err("other size");
    assert_eq!(e.kind.code(), "IdempotentParameterMismatch");
    assert_eq!(sim.describe_volumes(&r, &Filter::Server(ServerName::new("ommegang"))).await.unwrap().len(), 1);
}

#[test]
fn lost_responses_are_validated() {
    let cases: &[(LostResponses, &str)] = &[
        (LostResponses { rate: 1.5, ..LostResponses::default() }, "lost_responses.rate"),
        (LostResponses { at_call: Some(0), ..LostResponses::default() }, "lost_responses.at_call"),
        (LostResponses { at_call: Some(MAX_CALLS + 1), ..LostResponses::default() }, "lost_responses.at_call"),
        (LostResponses { apis: vec!["CreateVolumes".into()], ..LostResponses::default() }, "lost_responses.apis[0]"),
        (LostResponses { apis: vec!["DescribeVolumes".into()], ..LostResponses::default() }, "lost_responses.apis[0]"),
    ];
    for (lost, field) in cases {
        let faults = Faults { lost_responses: Some(lost.clone()), ..Faults::default() };
        let e = faults.validate().expect_err(field);
        assert!(e.starts_with(field), "{e}");
    }
    let ok = Faults {
        lost_responses: Some(LostResponses { rate: 0.5, at_call: Some(3), apis: vec!["AllocateAddress".into()] }),
        ..Faults::default()
    };
    assert_eq!(ok.validate(), Ok(()));
    assert_eq!(parse_faults(&render_faults(&ok)).unwrap(), ok, "the schedule file round-trips");
}

/// [`Sim::after_every_change`] sees every change a caller may have been told of: each
/// mutating call that returned (a lost response too: its change stands), each move of
/// the clock; never a describe or a refused call.
#[tokio::test]
async fn every_change_is_seen_after_the_call_that_made_it() {
    use std::sync::{Arc, Mutex};
    let sim = sim_losing(LostResponses { rate: 0.0, at_call: Some(1), apis: vec!["CreateVolume".into()] });
    let seen: Arc<Mutex<Vec<usize>>> = Arc::default();
    let log = seen.clone();
    // What the hook sees: the number of volumes in the world it is handed.
    sim.after_every_change(Some(Box::new(move |w| log.lock().unwrap().push(w.volumes().len()))));
    let r = east();
    let lost = sim.create_volume(&r, volume(None, 10)).await.unwrap_err();
    assert!(is_lost(&lost.kind), "{lost}");
    sim.create_volume(&r, volume(None, 10)).await.unwrap();
    sim.describe_volumes(&r, &Filter::All).await.unwrap();
    let refused = sim.delete_volume(&r, &VolumeId::new("vol-ffff")).await.unwrap_err();
    assert_eq!(refused.kind, CloudErrorKind::InvalidVolumeNotFound);
    sim.sleep(std::time::Duration::from_secs(10)).await;
    sim.after_every_change(None);
    sim.create_volume(&r, volume(None, 10)).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![1, 2, 2],
        "lost create, create, the clock; not the describe nor the refusal"
    );
}
