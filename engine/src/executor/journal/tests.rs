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

/// A resumed step sends the token it was last started with: the ClientToken AWS answers
/// with its first result, the tag reconcile looks for.
#[test]
fn a_resume_keeps_each_started_steps_last_token() {
    let token = |step: u32, t: Option<&str>| Record::Started { step: StepId(step), token: t.map(str::to_string) };
    let records = vec![
        token(1, Some("cellar-1-a")),
        done(1, address(1)),
        token(2, Some("cellar-2-a")),
        token(3, None),
        token(2, Some("cellar-2-b")),
    ];
    let resume = Resume::from_records(&records);
    let expected: BTreeMap<StepId, String> =
        [(StepId(1), "cellar-1-a".to_string()), (StepId(2), "cellar-2-b".to_string())].into();
    assert_eq!(resume.tokens, expected);
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
