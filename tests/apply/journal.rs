//! Resuming from a journal, in-process: for each creating step of create-server, the
//! process "dies" right after the step's calls returned and before its `Done` was kept
//! (the world as it was then, the journal without that record). The resumed apply must
//! not be stale by its own changes, must find what the step made instead of making a
//! second, and must end with exactly one of each resource.

use super::support::{plan, tagged, world_after, Recorder};
use cellar_engine::executor::journal::{resumed_staleness, Journal, Record, Resume};
use cellar_engine::executor::walk::Cancel;
use cellar_engine::executor::{apply_journaled, Event, Journaled, Policy};
use cellar_engine::inventory;
use cellar_engine::plan::StepId;
use cellar_sim::{Sim, World};
use std::sync::{Arc, Mutex};

/// Keeps every record; at the `Done` of `crash_at` keeps the world and the records before it.
struct CrashAfter {
    crash_at: StepId,
    sim: Arc<Sim>,
    records: Mutex<Vec<Record>>,
    snapshot: Mutex<Option<(World, Vec<Record>)>>,
}

impl Journal for CrashAfter {
    fn record(&self, record: &Record) -> Result<(), String> {
        let mut records = self.records.lock().unwrap();
        if matches!(record, Record::Done { step, .. } if *step == self.crash_at) {
            *self.snapshot.lock().unwrap() = Some((self.sim.world().clone(), records.clone()));
        }
        records.push(record.clone());
        Ok(())
    }
}

async fn crash_after_then_resume(crash_at: u32, expected_found: bool) {
    let sim = world_after(&["!dns ommegang.imarc.net 198.51.100.2"]).await;
    let plan = plan(&*sim, "create-server@ommegang 20").await.unwrap();
    let sink = Arc::new(CrashAfter {
        crash_at: StepId(crash_at),
        sim: sim.clone(),
        records: Mutex::default(),
        snapshot: Mutex::default(),
    });
    let journaled = Journaled { journal: sink.clone(), resume: Resume::default() };
    let operator = Arc::new(Recorder::new(true));
    let first = apply_journaled(sim, operator.clone(), &plan, Policy::default(), &Cancel::default(), journaled).await;
    assert!(first.succeeded(), "#{crash_at}: {first:#?}");
    let (world, records) = sink.snapshot.lock().unwrap().take().expect("the step was done");

    let resumed = Arc::new(Sim::new(world));
    let resume = Resume::from_records(&records);
    assert!(resume.interrupted.contains(&StepId(crash_at)), "#{crash_at}: {records:?}");
    let now = inventory::read(&*resumed, &plan.scope).await.unwrap();
    assert_eq!(resumed_staleness(&plan, &now.observe(&plan.scope), &resume), Vec::<String>::new(), "#{crash_at}");
    let journaled = Journaled { journal: Arc::new(cellar_engine::executor::journal::NoJournal), resume };
    let recorder = Arc::new(Recorder::new(true));
    let report =
        apply_journaled(resumed.clone(), recorder.clone(), &plan, Policy::default(), &Cancel::default(), journaled)
            .await;
    assert!(report.succeeded(), "#{crash_at}: {report:#?}");
    let found = recorder.events.lock().unwrap().iter().any(|e| {
        matches!(e, Event::Done { step, output, .. } if *step == StepId(crash_at) && output.contains("found again"))
    });
    assert_eq!(found, expected_found, "#{crash_at}");
    let mut kinds: Vec<String> =
        tagged(&*resumed, "ommegang").await.iter().map(|t| t.split(' ').next().unwrap().to_string()).collect();
    kinds.sort();
    assert_eq!(kinds, ["address", "group", "instance", "template", "volume"], "#{crash_at}");
}

#[tokio::test]
async fn a_step_interrupted_after_its_create_is_found_not_made_twice() {
    // (step, found by the reconciliation rather than by running it again)
    for (step, found) in [
        (1, true),  // AllocateAddress: by the server's tag
        (3, true),  // CreateVolume: by tag (and device)
        (4, true),  // RunInstances: by its token tag (the token the journal recorded)
        (7, true),  // CreateLaunchTemplate: by name
        (8, true),  // CreateAutoScalingGroup: by name
        (5, false), // AttachVolume: run again, finds it attached
    ] {
        crash_after_then_resume(step, found).await;
    }
}
