//! A walk over a dependency graph of tasks that knows nothing of what the tasks do (the
//! shape of cargo's dependency queue and Terraform's dag walk).
//!
//! 1. Count each task's unfinished dependencies (its in-degree); tasks with none are ready.
//! 2. Start ready tasks in id order, at most `concurrency` at once (a task that only waits,
//!    [`Task::waits`], holds no slot); each gets the outputs of the tasks it runs after.
//! 3. When a task is done, its dependents' in-degrees drop; those reaching zero are ready.
//! 4. When a task fails (or is blocked), its group is stopped: its dependents, and every
//!    not yet started task of the same group, are skipped; other groups' tasks go on.
//! 5. After [`Cancel::cancel`], no task starts; running tasks finish, the rest are
//!    [`Outcome::Cancelled`].
//!
//! Invariant: every task gets exactly one [`Outcome`].

use crate::plan::StepId;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::task::JoinSet;

/// One node of the graph: an id, the group it belongs to (a failure stops its group), and
/// the tasks that must be done first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task<G> {
    pub id: StepId,
    pub group: G,
    pub after: Vec<StepId>,
    /// The task only waits (for a state, polling): it starts as soon as it is ready and
    /// holds none of the `concurrency` slots, so a thousand servers waiting to be healthy
    /// do not keep the next ones from starting.
    pub waits: bool,
}

/// How a started task ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finish<O, E> {
    Done(O),
    Failed(E),
    /// Stopped by something outside (a gate nobody passed): stops the group like a failure.
    Blocked(E),
    /// Did nothing: the walk was cancelled before the task's turn came (a runner that
    /// waits for a slot of its own); its outcome is [`Outcome::Cancelled`].
    Cancelled,
}

/// What became of a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<O, E> {
    Done(O),
    Failed(E),
    Blocked(E),
    /// Not started because `because` failed or was blocked (a dependency, or an earlier
    /// task of its group); a task never reachable names itself.
    Skipped {
        because: StepId,
    },
    /// Not started because the walk was cancelled.
    Cancelled,
}

/// Stops a walk from starting more tasks.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The end of a walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Walked<G: Ord, O, E> {
    /// Every task's outcome.
    pub outcomes: BTreeMap<StepId, Outcome<O, E>>,
    /// The tasks done, in the order they finished.
    pub completed: Vec<StepId>,
    /// Each stopped group and the task whose failure (or block) stopped it.
    pub stopped: BTreeMap<G, StepId>,
}

struct Graph<'a, G> {
    tasks: BTreeMap<StepId, &'a Task<G>>,
    dependents: BTreeMap<StepId, Vec<StepId>>,
}

/// Walks `tasks`, running each with `run(id, outputs of the tasks it runs after)`.
/// `on_skip(id, because)` hears of each skipped task as it is skipped.
pub async fn walk<G, O, E, R, Fut>(
    tasks: &[Task<G>],
    concurrency: usize,
    cancel: &Cancel,
    mut run: R,
    on_skip: &dyn Fn(StepId, StepId),
) -> Walked<G, O, E>
where
    G: Ord + Clone,
    O: Clone + Send + 'static,
    E: Send + 'static,
    R: FnMut(StepId, BTreeMap<StepId, O>) -> Fut,
    Fut: Future<Output = Finish<O, E>> + Send + 'static,
{
    let graph = Graph {
        tasks: tasks.iter().map(|t| (t.id, t)).collect(),
        dependents: {
            let mut d: BTreeMap<StepId, Vec<StepId>> = BTreeMap::new();
            for t in tasks {
                for dep in &t.after {
                    d.entry(*dep).or_default().push(t.id);
                }
            }
            d
        },
    };
    let mut indegree: BTreeMap<StepId, usize> = tasks.iter().map(|t| (t.id, t.after.len())).collect();
    let mut ready = Ready::default();
    for (id, _) in indegree.iter().filter(|(_, d)| **d == 0) {
        ready.insert(graph.tasks[id]);
    }
    let mut outputs: BTreeMap<StepId, O> = BTreeMap::new();
    let mut walked = Walked { outcomes: BTreeMap::new(), completed: Vec::new(), stopped: BTreeMap::new() };
    let mut running: JoinSet<(StepId, Finish<O, E>)> = JoinSet::new();
    // Running tasks that hold a slot (all but those that only wait).
    let mut slots_taken = 0;

    loop {
        while !cancel.is_cancelled() {
            let Some(id) = ready.next(slots_taken < concurrency.max(1)) else { break };
            let task = graph.tasks[&id];
            if let Some(because) = walked.stopped.get(&task.group).copied() {
                skip(&graph, &mut walked.outcomes, on_skip, id, because);
                continue;
            }
            let inputs: BTreeMap<StepId, O> =
                task.after.iter().filter_map(|dep| Some((*dep, outputs.get(dep)?.clone()))).collect();
            let future = run(id, inputs);
            slots_taken += usize::from(!task.waits);
            running.spawn(async move { (id, future.await) });
        }
        let Some(joined) = running.join_next().await else { break };
        let (id, finish) = match joined {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        slots_taken -= usize::from(!graph.tasks[&id].waits);
        let outcome = match finish {
            Finish::Done(output) => {
                outputs.insert(id, output.clone());
                walked.completed.push(id);
                walked.outcomes.insert(id, Outcome::Done(output));
                for dependent in graph.dependents.get(&id).into_iter().flatten() {
                    let d = indegree.get_mut(dependent).expect("a dependent is a task");
                    *d -= 1;
                    if *d == 0 && !walked.outcomes.contains_key(dependent) {
                        ready.insert(graph.tasks[dependent]);
                    }
                }
                continue;
            }
            Finish::Failed(e) => Outcome::Failed(e),
            Finish::Blocked(e) => Outcome::Blocked(e),
            Finish::Cancelled => {
                walked.outcomes.insert(id, Outcome::Cancelled);
                continue;
            }
        };
        walked.outcomes.insert(id, outcome);
        walked.stopped.entry(graph.tasks[&id].group.clone()).or_insert(id);
        for dependent in graph.dependents.get(&id).into_iter().flatten() {
            skip(&graph, &mut walked.outcomes, on_skip, *dependent, id);
        }
    }
    // Tasks never started: cancelled, or unreachable (a dependency was skipped, or a cycle).
    for task in tasks {
        if walked.outcomes.contains_key(&task.id) {
            continue;
        }
        let outcome = if cancel.is_cancelled() {
            Outcome::Cancelled
        } else {
            Outcome::Skipped { because: walked.stopped.get(&task.group).copied().unwrap_or(task.id) }
        };
        walked.outcomes.insert(task.id, outcome);
    }
    walked
}

/// The tasks ready to start, in id order: those that only wait apart, as they need no slot.
#[derive(Default)]
struct Ready {
    waiting: BTreeSet<StepId>,
    working: BTreeSet<StepId>,
}

impl Ready {
    fn insert<G>(&mut self, task: &Task<G>) {
        if task.waits {
            self.waiting.insert(task.id);
        } else {
            self.working.insert(task.id);
        }
    }

    /// The next task to start: the first one that only waits, else (if a slot is free)
    /// the first of the others.
    fn next(&mut self, slot_free: bool) -> Option<StepId> {
        self.waiting.pop_first().or_else(|| if slot_free { self.working.pop_first() } else { None })
    }
}

/// Skips `id` and, transitively, its dependents that have no outcome yet.
fn skip<G, O, E>(
    graph: &Graph<'_, G>,
    outcomes: &mut BTreeMap<StepId, Outcome<O, E>>,
    on_skip: &dyn Fn(StepId, StepId),
    id: StepId,
    because: StepId,
) {
    let mut pending = vec![id];
    while let Some(id) = pending.pop() {
        if outcomes.contains_key(&id) {
            continue;
        }
        on_skip(id, because);
        outcomes.insert(id, Outcome::Skipped { because });
        // Depth first, in the order the dependents were declared.
        pending.extend(graph.dependents.get(&id).into_iter().flatten().rev().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;

    /// How the fake runner ends a task.
    #[derive(Clone, Copy, PartialEq)]
    enum Fake {
        Done,
        Fail,
        Block,
        /// Done, and cancels the walk.
        DoneAndCancel,
        /// Done, after the other tasks running with it have had a few turns.
        DoneLate,
        /// Cancels the walk and did nothing (a runner that found it cancelled at its turn).
        CancelledAtItsTurn,
    }

    fn tasks(spec: &[(u32, &'static str, &[u32])]) -> Vec<Task<&'static str>> {
        spec.iter()
            .map(|(id, group, after)| Task {
                id: StepId(*id),
                group: *group,
                after: after.iter().map(|a| StepId(*a)).collect(),
                waits: false,
            })
            .collect()
    }

    /// Walks `spec` (id, group, after) with a fake runner (`fake` says how a task ends;
    /// unlisted tasks are done, with the ids of the inputs they got as output), and
    /// compares each task's outcome, the order tasks started in, and the skip reports.
    fn check(
        spec: &[(u32, &'static str, &[u32])],
        fake: &[(u32, Fake)],
        concurrency: usize,
        expected: &[&str],
        expected_started: &[u32],
    ) {
        let tasks = tasks(spec);
        let fake: BTreeMap<StepId, Fake> = fake.iter().map(|(id, f)| (StepId(*id), *f)).collect();
        let cancel = Cancel::default();
        let started = Arc::new(Mutex::new(Vec::new()));
        let skipped = Mutex::new(Vec::new());
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let walked = rt.block_on(walk(
            &tasks,
            concurrency,
            &cancel,
            |id, inputs: BTreeMap<StepId, String>| {
                let how = fake.get(&id).copied().unwrap_or(Fake::Done);
                let (started, cancel) = (started.clone(), cancel.clone());
                let (running, most) = (running.clone(), most.clone());
                async move {
                    started.lock().unwrap().push(id.0);
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    for _ in 0..if how == Fake::DoneLate { 5 } else { 1 } {
                        tokio::task::yield_now().await;
                    }
                    running.fetch_sub(1, Ordering::SeqCst);
                    let got: Vec<String> = inputs.keys().map(|k| k.to_string()).collect();
                    match how {
                        Fake::Done | Fake::DoneLate => Finish::Done(format!("[{}]", got.join(" "))),
                        Fake::DoneAndCancel => {
                            cancel.cancel();
                            Finish::Done(format!("[{}]", got.join(" ")))
                        }
                        Fake::Fail => Finish::Failed("boom".to_string()),
                        Fake::Block => Finish::Blocked("gate".to_string()),
                        Fake::CancelledAtItsTurn => {
                            cancel.cancel();
                            Finish::Cancelled
                        }
                    }
                }
            },
            &|id, because| skipped.lock().unwrap().push((id, because)),
        ));
        let got: Vec<String> = walked
            .outcomes
            .iter()
            .map(|(id, o)| match o {
                Outcome::Done(out) => format!("{id} done {out}"),
                Outcome::Failed(e) => format!("{id} failed {e}"),
                Outcome::Blocked(e) => format!("{id} blocked {e}"),
                Outcome::Skipped { because } => format!("{id} skipped because {because}"),
                Outcome::Cancelled => format!("{id} cancelled"),
            })
            .collect();
        assert_eq!(got, expected);
        assert_eq!(*started.lock().unwrap(), expected_started, "start order");
        assert!(most.load(Ordering::SeqCst) <= concurrency.max(1), "more than {concurrency} at once");
        // Every skip was reported once, with its reason.
        let mut reported: Vec<(StepId, StepId)> = skipped.into_inner().unwrap();
        reported.sort();
        let skips: Vec<(StepId, StepId)> = walked
            .outcomes
            .iter()
            .filter_map(|(id, o)| match o {
                Outcome::Skipped { because } if because != id => Some((*id, *because)),
                _ => None,
            })
            .collect();
        assert_eq!(reported, skips, "skip reports");
        // Completed in an order that respects the dependencies.
        for (i, id) in walked.completed.iter().enumerate() {
            for dep in &tasks.iter().find(|t| t.id == *id).unwrap().after {
                assert!(walked.completed[..i].contains(dep), "{id} completed before its dependency {dep}");
            }
        }
    }

    #[test]
    fn dependencies_first_and_each_task_gets_its_inputs() {
        check(
            &[(1, "a", &[]), (2, "a", &[]), (3, "a", &[1, 2]), (4, "a", &[3])],
            &[],
            8,
            &["#1 done []", "#2 done []", "#3 done [#1 #2]", "#4 done [#3]"],
            &[1, 2, 3, 4],
        );
    }

    #[test]
    fn concurrency_is_bounded_and_ready_tasks_start_in_id_order() {
        let spec: Vec<(u32, &str, &[u32])> = (1..=6).rev().map(|i| (i, "a", &[][..])).collect();
        check(
            &spec,
            &[],
            2,
            &["#1 done []", "#2 done []", "#3 done []", "#4 done []", "#5 done []", "#6 done []"],
            &[1, 2, 3, 4, 5, 6],
        );
    }

    /// A runner that finds the walk cancelled when its turn comes did nothing: the task is
    /// cancelled (not failed: nothing is skipped because of it), like every task not
    /// started after it; the tasks done before stay done.
    #[test]
    fn a_task_cancelled_at_its_turn_is_cancelled_not_failed() {
        check(
            &[(1, "a", &[]), (2, "a", &[1]), (3, "b", &[]), (4, "b", &[3])],
            &[(3, Fake::CancelledAtItsTurn)],
            1,
            &["#1 done []", "#2 done [#1]", "#3 cancelled", "#4 cancelled"],
            &[1, 2, 3],
        );
    }

    /// Tasks that only wait hold no slot: with one slot, the three waits (each running
    /// until the working tasks are done) run beside the working tasks, which still take
    /// turns one at a time.
    #[test]
    fn tasks_that_only_wait_hold_no_slot() {
        let task = |id: u32, waits: bool| Task { id: StepId(id), group: id, after: vec![], waits };
        let tasks = [task(1, true), task(2, true), task(3, true), task(4, false), task(5, false)];
        let working_done = Arc::new(AtomicUsize::new(0));
        let (working, most_working, most) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let all = Arc::new(AtomicUsize::new(0));
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let walked = rt.block_on(walk(
            &tasks,
            1,
            &Cancel::default(),
            |id, _: BTreeMap<StepId, ()>| {
                let (working_done, working, most_working) =
                    (working_done.clone(), working.clone(), most_working.clone());
                let (all, most) = (all.clone(), most.clone());
                async move {
                    most.fetch_max(all.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    if id.0 <= 3 {
                        // A wait: until both working tasks are done (bounded, so a bug fails the test).
                        for _ in 0..1000 {
                            if working_done.load(Ordering::SeqCst) == 2 {
                                break;
                            }
                            tokio::task::yield_now().await;
                        }
                    } else {
                        most_working.fetch_max(working.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                        for _ in 0..5 {
                            tokio::task::yield_now().await;
                        }
                        working.fetch_sub(1, Ordering::SeqCst);
                        working_done.fetch_add(1, Ordering::SeqCst);
                    }
                    all.fetch_sub(1, Ordering::SeqCst);
                    Finish::<(), ()>::Done(())
                }
            },
            &|_, _| {},
        ));
        assert!(walked.outcomes.values().all(|o| matches!(o, Outcome::Done(()))));
        assert_eq!(most_working.load(Ordering::SeqCst), 1, "the working tasks took turns in the one slot");
        assert_eq!(most.load(Ordering::SeqCst), 4, "the three waits ran beside a working task");
        assert_eq!(working_done.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failure_skips_its_dependents_and_its_groups_unstarted_tasks() {
        // Concurrency 1: #2 of group a has not started when #1 fails.
        check(
            &[(1, "a", &[]), (2, "a", &[]), (3, "a", &[1]), (4, "b", &[]), (5, "b", &[4])],
            &[(1, Fake::Fail)],
            1,
            &["#1 failed boom", "#2 skipped because #1", "#3 skipped because #1", "#4 done []", "#5 done [#4]"],
            &[1, 4, 5],
        );
    }

    #[test]
    fn servers_are_isolated_but_a_dependent_in_another_group_is_skipped() {
        check(
            &[(1, "a", &[]), (2, "b", &[]), (3, "b", &[1]), (4, "b", &[2]), (5, "c", &[3])],
            &[(1, Fake::Fail)],
            8,
            &["#1 failed boom", "#2 done []", "#3 skipped because #1", "#4 done [#2]", "#5 skipped because #1"],
            &[1, 2, 4],
        );
    }

    #[test]
    fn tasks_already_running_in_a_failed_group_finish() {
        check(
            &[(1, "a", &[]), (2, "a", &[]), (3, "a", &[2])],
            &[(1, Fake::Fail), (2, Fake::DoneLate)],
            8,
            &["#1 failed boom", "#2 done []", "#3 skipped because #1"],
            &[1, 2],
        );
    }

    #[test]
    fn a_block_stops_its_group_like_a_failure() {
        check(
            &[(1, "a", &[]), (2, "a", &[1]), (3, "b", &[])],
            &[(1, Fake::Block)],
            8,
            &["#1 blocked gate", "#2 skipped because #1", "#3 done []"],
            &[1, 3],
        );
    }

    #[test]
    fn cancelling_starts_nothing_more() {
        check(
            &[(1, "a", &[]), (2, "a", &[1]), (3, "b", &[]), (4, "b", &[3])],
            &[(1, Fake::DoneAndCancel)],
            1,
            &["#1 done []", "#2 cancelled", "#3 cancelled", "#4 cancelled"],
            &[1],
        );
    }

    #[test]
    fn a_cycle_is_never_started() {
        check(
            &[(1, "a", &[2]), (2, "a", &[1]), (3, "a", &[])],
            &[],
            8,
            &["#1 skipped because #1", "#2 skipped because #2", "#3 done []"],
            &[3],
        );
    }
}
