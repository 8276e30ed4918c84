//! An apply killed after its volume was created, on the moto endpoint: the journal holds
//! what was kept before the kill (the volume's step started, never done) and AWS holds the
//! volume. The resumed apply is not stale by its own volume, finds it by its token tag
//! instead of making a second, and finishes.

use super::support::Recorder;
use super::*;
use cellar_engine::executor::journal::{resumed_staleness, Journal, NoJournal, Record, Resume};
use cellar_engine::executor::walk::Cancel;
use cellar_engine::executor::{apply_journaled, Journaled};
use cellar_engine::inventory;
use cellar_engine::plan::{Action, StepId};
use std::sync::Mutex;

/// Keeps every record until the `Done` of `step`, where the apply dies (a panic ends its
/// task, and every call in flight with it): as a `kill -9` after the step's call returned
/// and before its record reached the disk.
struct KilledAtDone {
    step: StepId,
    records: Mutex<Vec<Record>>,
}

impl Journal for KilledAtDone {
    fn record(&self, record: &Record) -> Result<(), String> {
        if matches!(record, Record::Done { step, .. } if *step == self.step) {
            panic!("the apply is killed here (kill -9 stand-in)");
        }
        self.records.lock().unwrap().push(record.clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_killed_after_its_volume_was_created_resumes_without_a_second_volume() {
    let Some(upstream) = moto_endpoint("an_apply_killed_after_its_volume_was_created_resumes_without_a_second_volume")
    else {
        return;
    };
    let account = MotoAccount::open(&upstream).await;
    let cloud = account.cloud();
    let plan = support::plan(&*cloud, "create-server@chimay 10").await.unwrap();
    let volume_step = plan.steps.iter().find(|s| matches!(s.action, Action::CreateVolume { .. })).unwrap().id;
    let sink = Arc::new(KilledAtDone { step: volume_step, records: Mutex::default() });

    let (first_cloud, first_plan, journal) = (cloud.clone(), plan.clone(), sink.clone());
    // The walk is not `Send`: a task of its own on this thread, which the panic ends.
    let first = async move {
        let journaled = Journaled { journal, resume: Resume::default() };
        let operator = Arc::new(Recorder::new(true));
        apply_journaled(first_cloud, operator, &first_plan, fast_policy(), &Cancel::default(), journaled).await
    };
    let killed = tokio::task::LocalSet::new().run_until(async { tokio::task::spawn_local(first).await }).await;
    assert!(killed.as_ref().is_err_and(|e| e.is_panic()), "the first apply was killed: {killed:?}");
    let chimay = Filter::Server(ServerName::new("chimay"));
    let volumes = cloud.describe_volumes(&region(), &chimay).await.unwrap();
    assert_eq!(volumes.len(), 1, "the killed apply made its volume: {volumes:#?}");

    let records = sink.records.lock().unwrap().clone();
    let resume = Resume::from_records(&records);
    assert!(resume.interrupted.contains(&volume_step), "{records:#?}");
    let now = inventory::read(&*cloud, &plan.scope).await.unwrap();
    let stale = resumed_staleness(&plan, &now.observe(&plan.scope), &resume);
    assert_eq!(stale, Vec::<String>::new(), "only this apply's own changes");
    let journaled = Journaled { journal: Arc::new(NoJournal), resume };
    let recorder = Arc::new(Recorder::new(true));
    let report = apply_journaled(cloud.clone(), recorder, &plan, fast_policy(), &Cancel::default(), journaled).await;
    assert!(report.succeeded(), "{report:#?}");

    let volumes = cloud.describe_volumes(&region(), &chimay).await.unwrap();
    assert_eq!(volumes.len(), 1, "exactly one volume: {volumes:#?}");
    assert_eq!(account.endpoint.seen_actions("CreateVolume").len(), 1, "the resume found the volume, made none");
    eventually(&*cloud, Duration::from_secs(60), "chimay healthy", || async {
        health(&*cloud, "chimay").await == Health::Healthy
    })
    .await;
}
