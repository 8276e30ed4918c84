use super::*;
use crate::plan::{Ref, Scope, PLAN_FORMAT_VERSION};

fn step(id: u32, action: Action) -> Step {
    Step { id: StepId(id), server: ServerName::new("ale"), action, after: vec![], undo: None }
}

fn plan_of(steps: Vec<Step>, observed: Vec<Observation>) -> Plan {
    Plan {
        format: PLAN_FORMAT_VERSION,
        command: "create-server@ale 20".into(),
        scope: Scope { server: Some(ServerName::new("ale")), ..Scope::new(Region::new("us-east-1")) },
        observed,
        steps,
        tags: BTreeMap::new(),
        notes: vec![],
        settings: BTreeMap::new(),
        fleet: None,
        drift: Vec::new(),
    }
}

fn address(n: u32) -> Output {
    Output::Address { allocation_id: AllocationId::new(format!("eipalloc-000{n}")), public_ip: format!("192.0.2.{n}") }
}

fn started(n: u32) -> Record {
    Record::Started { step: StepId(n), token: None }
}

fn done(n: u32, output: Output) -> Record {
    Record::Done { step: StepId(n), output }
}

/// Records → what a resumed apply does with steps 1..=4.
fn check_decisions(records: Vec<Record>, expected: [Decision; 4], ended: Option<Ending>) {
    let resume = Resume::from_records(&records);
    let got: Vec<Decision> = (1..=4).map(|n| resume.decide(StepId(n))).collect();
    assert_eq!(got, expected.to_vec(), "records {records:?}");
    assert_eq!(resume.ended, ended);
}

#[test]
fn resume_decisions() {
    use Decision::*;
    let vol = Output::Volume(VolumeId::new("vol-0001"));
    check_decisions(vec![], [Run, Run, Run, Run], None);
    // Done steps are taken with their outputs; one started and never finished runs again.
    check_decisions(
        vec![started(1), done(1, address(1)), started(2), done(2, vol.clone()), started(3)],
        [Take(address(1)), Take(vol.clone()), Reconcile, Run],
        None,
    );
    // A blocked gate runs again (it checks the record again); the apply ended blocked.
    let blocked = Record::Blocked { step: StepId(2), reason: "not yet".into() };
    let ended = Record::Ended { how: Ending::Blocked, summary: String::new() };
    check_decisions(
        vec![started(1), done(1, address(1)), started(2), blocked, ended],
        [Take(address(1)), Run, Run, Run],
        Some(Ending::Blocked),
    );
    // A failed step fails again; an undone step stays done (it is not undone twice).
    let failed = Record::Failed { step: StepId(3), error: "boom".into() };
    let resume = Resume::from_records(&[
        started(1),
        done(1, vol.clone()),
        started(3),
        failed,
        Record::Undone { step: StepId(1) },
    ]);
    assert_eq!(resume.decide(StepId(3)), FailAgain("boom".into()));
    assert_eq!(resume.undone, BTreeSet::from([StepId(1)]));
    // A step started again after an earlier apply ended: that apply is no longer the end.
    check_decisions(
        vec![Record::Ended { how: Ending::Cancelled, summary: String::new() }, started(4)],
        [Run, Run, Run, Reconcile],
        None,
    );
}

#[test]
fn records_read_back_as_written() {
    let records = vec![
        Record::Started { step: StepId(2), token: Some("cellar-abc".into()) },
        done(2, Output::Launch(LaunchSource::Template { id: LaunchTemplateId::new("lt-0001"), version: Some(1) })),
        Record::Ended { how: Ending::Succeeded, summary: "done 1".into() },
    ];
    let text = ron::to_string(&records).unwrap();
    assert_eq!(ron::from_str::<Vec<Record>>(&text).unwrap(), records);
    assert!(ron::from_str::<Vec<Record>>("[Done(step: 1, output: Nothing, extra: 1)]").is_err());
}

fn obs(resource: ResourceKey, observed: Observed) -> Observation {
    Observation { resource, observed }
}

fn dns(ips: &[&str]) -> Observation {
    obs(
        ResourceKey::Dns("ale.example.com".into()),
        Observed::Dns { addresses: ips.iter().map(|s| s.to_string()).collect() },
    )
}

fn addr(n: u32, on: Option<&str>) -> Observation {
    obs(
        ResourceKey::Address(AllocationId::new(format!("eipalloc-000{n}"))),
        Observed::Address { public_ip: format!("192.0.2.{n}"), associated_to: on.map(InstanceId::new) },
    )
}

fn instance(id: &str) -> Observation {
    obs(
        ResourceKey::Instance(InstanceId::new(id)),
        Observed::Instance { state: InstanceState::Pending, zone: Zone::new("us-east-1a") },
    )
}

fn check_resumed(records: Vec<Record>, before: Vec<Observation>, now: Vec<Observation>, expected: &[&str]) {
    let steps = vec![
        step(1, Action::AllocateAddress { awaiting_dns: Some("ale.example.com".into()) }),
        step(
            2,
            Action::AssociateAddress {
                address: Ref::Existing(AllocationId::new("eipalloc-0005")),
                instance: Ref::Output(StepId(1)),
            },
        ),
    ];
    let plan = plan_of(steps, before);
    assert_eq!(resumed_staleness(&plan, &now, &Resume::from_records(&records)), expected);
}

#[test]
fn a_resumed_apply_is_stale_only_by_changes_of_others() {
    // The DNS gate case: the address this apply allocated, and the record now pointing at it.
    let gate = vec![started(1), done(1, address(1))];
    check_resumed(gate.clone(), vec![dns(&[])], vec![dns(&["192.0.2.1"]), addr(1, None)], &[]);
    // Someone else pointed the record elsewhere, or made another address: stale.
    check_resumed(
        gate.clone(),
        vec![dns(&[])],
        vec![dns(&["198.51.100.7"]), addr(1, None), addr(2, None)],
        &[
            "DNS record ale.example.com of ale: no A record → 198.51.100.7 since plan",
            "address eipalloc-0002 of ale: appeared since plan (192.0.2.2, unassociated)",
        ],
    );
    // Without the journal, the apply's own address is a change.
    check_resumed(
        vec![],
        vec![],
        vec![addr(1, None)],
        &["address eipalloc-0001 of ale: appeared since plan (192.0.2.1, unassociated)"],
    );
    // A resource the plan saw and a started step names is this apply's to change.
    check_resumed(vec![started(2)], vec![addr(5, None)], vec![addr(5, Some("i-0009"))], &[]);
    check_resumed(
        vec![],
        vec![addr(5, None)],
        vec![addr(5, Some("i-0009"))],
        &["address eipalloc-0005 of ale: 192.0.2.5, unassociated → 192.0.2.5 on i-0009 since plan"],
    );
    // An instance appearing while no step that creates one was interrupted is someone else's.
    check_resumed(
        gate.clone(),
        vec![],
        vec![addr(1, None), instance("i-0004")],
        &["instance i-0004 of ale: appeared since plan (pending in us-east-1a)"],
    );
    // An address appearing while the allocation was interrupted is the step's, reconciled when it runs again.
    check_resumed(vec![started(1)], vec![], vec![addr(3, None)], &[]);
    // What the journal says this apply made must still be there (unless its undo removed it).
    check_resumed(
        gate.clone(),
        vec![],
        vec![],
        &["address eipalloc-0001 of ale, made by step #1 of this apply: gone since"],
    );
    check_resumed(vec![started(1), done(1, address(1)), Record::Undone { step: StepId(1) }], vec![], vec![], &[]);
}

fn vol(n: u32, on: Option<&str>) -> Observation {
    let state = if on.is_some() { VolumeState::InUse } else { VolumeState::Available };
    obs(
        ResourceKey::Volume(VolumeId::new(format!("vol-000{n}"))),
        Observed::Volume { state, attached_to: on.map(InstanceId::new), size_gb: 20 },
    )
}

fn instance_in(id: &str, state: InstanceState) -> Observation {
    obs(ResourceKey::Instance(InstanceId::new(id)), Observed::Instance { state, zone: Zone::new("us-east-1a") })
}

/// Found by the property suite's crashes (a destroy-server or stop-auto-scaling killed once
/// it had terminated the instance or scaled the group to 0): AWS detaches the volume and
/// disassociates the address of an instance as it terminates, and those changes are this
/// apply's too, or the apply could never be resumed.
#[test]
fn what_a_started_step_terminates_takes_its_volume_and_address_with_it() {
    let group = AutoScalingGroupName::new("ale");
    let scale_down = Action::UpdateAutoScalingGroup {
        group: group.clone(),
        launch: None,
        min: Some(0),
        desired: Some(0),
        placement: None,
    };
    let terminate = Action::TerminateInstance { instance: InstanceId::new("i-0008") };
    let group_of = |instances: &[&str]| {
        obs(
            ResourceKey::Group(group.clone()),
            Observed::Group {
                launch: LaunchSource::Configuration { name: "ale-v1".into() },
                desired: 1,
                instances: instances.iter().map(|i| InstanceId::new(*i)).collect(),
            },
        )
    };
    let check =
        |action: Action, before: Vec<Observation>, now: Vec<Observation>, records: &[Record], expected: &[&str]| {
            let plan = plan_of(vec![step(1, action)], before);
            assert_eq!(resumed_staleness(&plan, &now, &Resume::from_records(records)), expected);
        };
    let before = |i: &str| vec![instance_in(i, InstanceState::Running), vol(1, Some(i)), addr(1, Some(i))];
    let after = |i: &str| vec![instance_in(i, InstanceState::Terminated), vol(1, None), addr(1, None)];
    // The group scaled to 0 (its instance i-0009 going) or the instance terminated by id.
    let mut scaled_before = before("i-0009");
    scaled_before.push(group_of(&["i-0009"]));
    let mut scaled_after = after("i-0009");
    scaled_after.push(group_of(&[]));
    check(scale_down.clone(), scaled_before.clone(), scaled_after.clone(), &[started(1)], &[]);
    check(terminate.clone(), before("i-0008"), after("i-0008"), &[started(1)], &[]);
    // An instance the plan saw shutting down ends terminated, whoever applies.
    let going = |state| vec![instance_in("i-0006", state), vol(1, Some("i-0006"))];
    check(
        scale_down.clone(),
        going(InstanceState::ShuttingDown),
        vec![instance_in("i-0006", InstanceState::Terminated), vol(1, None)],
        &[],
        &[],
    );
    // Without the journal it is someone else's doing.
    let stale = check_stale_count(&scale_down, &scaled_before, &scaled_after);
    assert_eq!(stale, 4, "instance, volume, address and group changed");
    // Another instance's volume detached meanwhile is still someone else's.
    let mut other_before = before("i-0008");
    other_before.push(vol(2, Some("i-0007")));
    let mut other_now = after("i-0008");
    other_now.push(vol(2, None));
    check(
        terminate.clone(),
        other_before,
        other_now,
        &[started(1)],
        &["volume vol-0002 of ale: in-use, 20 GiB, attached to i-0007 → available, 20 GiB since plan"],
    );
    // The group's replacement of the instance a started step terminated (killed before
    // the wait started) is this apply's doing; without the journal it is someone else's.
    let mut replaced = after("i-0008");
    replaced.push(instance_in("i-0010", InstanceState::Pending));
    check(terminate.clone(), before("i-0008"), replaced.clone(), &[started(1), done(1, Output::Nothing)], &[]);
    check(
        terminate.clone(),
        before("i-0008"),
        replaced,
        &[],
        &[
            "instance i-0008 of ale: running → terminated since plan",
            "volume vol-0001 of ale: in-use, 20 GiB, attached to i-0008 → available, 20 GiB since plan",
            "address eipalloc-0001 of ale: 192.0.2.1 on i-0008 → 192.0.2.1, unassociated since plan",
            "instance i-0010 of ale: appeared since plan (pending in us-east-1a)",
        ],
    );
    // The group of the instance a started step terminated now holds its replacement (no
    // step names the group: it launches its template's `$Latest`): this apply's doing, as
    // long as only its members changed.
    let mut in_group = before("i-0008");
    in_group.push(group_of(&["i-0008"]));
    let mut replaced = after("i-0008");
    replaced.extend([instance_in("i-0010", InstanceState::Pending), group_of(&["i-0010"])]);
    let terminated = [started(1), done(1, Output::Nothing)];
    check(terminate.clone(), in_group.clone(), replaced.clone(), &terminated, &[]);
    let resized = |o: &mut Observation| {
        if let Observed::Group { desired, .. } = &mut o.observed {
            *desired = 0;
        }
    };
    replaced.iter_mut().for_each(resized);
    check(
        terminate,
        in_group,
        replaced,
        &terminated,
        &["auto scaling group ale of ale: desired 1, instances [i-0008], launch configuration ale-v1 → desired 0, instances [i-0010], launch configuration ale-v1 since plan"],
    );
}

/// Found by the property suite's crashes (an apply killed while it undid a failed
/// create-server, after its DeleteVolume and before the `Undone` was kept): what the
/// journal's steps made is gone, by the compensation the resume is to finish.
#[test]
fn a_compensation_under_way_is_not_stale_by_what_it_removed() {
    let vol_out = Output::Volume(VolumeId::new("vol-0001"));
    let failed = Record::Failed { step: StepId(2), error: "InsufficientInstanceCapacity".into() };
    let records = vec![started(1), done(1, vol_out.clone()), started(2), failed];
    let create = Action::CreateVolume {
        zone: Zone::new("us-east-1a"),
        size_gb: 20,
        ebs: EbsSettings::default(),
        device: None,
        restore_from: None,
    };
    let plan = plan_of(vec![step(1, create.clone()), step(2, Action::AllocateAddress { awaiting_dns: None })], vec![]);
    assert_eq!(resumed_staleness(&plan, &[], &Resume::from_records(&records)), Vec::<String>::new());
    // Without a failed step, what the apply made must still be there.
    let plan = plan_of(vec![step(1, create)], vec![]);
    let gone = resumed_staleness(&plan, &[], &Resume::from_records(&records[..2]));
    assert_eq!(gone, ["volume vol-0001 of ale, made by step #1 of this apply: gone since"]);
}

fn check_stale_count(action: &Action, before: &[Observation], now: &[Observation]) -> usize {
    let plan = plan_of(vec![step(1, action.clone())], before.to_vec());
    resumed_staleness(&plan, now, &Resume::default()).len()
}

/// A resumed apply must reuse the tokens of the steps it interrupted: its own salt (the
/// clock when it starts) gives other tokens, under which a snapshot, image or address the
/// killed apply made would not be found, and would be made a second time.
#[test]
fn resume_keeps_the_tokens_the_killed_apply_used() {
    let token = |n: u32, t: &str| Record::Started { step: StepId(n), token: Some(t.into()) };
    let resume =
        Resume::from_records(&[token(1, "cellar-1-a"), done(1, address(1)), token(2, "cellar-2-b"), started(3)]);
    let expected = BTreeMap::from([(StepId(1), "cellar-1-a".to_string()), (StepId(2), "cellar-2-b".to_string())]);
    assert_eq!(resume.tokens, expected);
    // A step started again (by an apply that resumed) keeps its last token.
    let resume = Resume::from_records(&[token(2, "cellar-2-b"), token(2, "cellar-2-c")]);
    assert_eq!(resume.tokens.get(&StepId(2)).map(String::as_str), Some("cellar-2-c"));
}
