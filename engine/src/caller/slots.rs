//! [`Slots`]: the executor's `--parallelism`, handed out first come, first served, except
//! that a step whose client-side token has come due goes before steps that have not
//! started: its call was reserved a place in AWS's token bucket at a time, and sent late
//! it lands on top of the calls reserved after it (AWS's bucket fills to its size while
//! the client waits, then a burst of late calls overflows it).
//!
//! Invariant: at most `concurrency` permits exist at once; a permit dropped anywhere
//! (a step ending, a sleep giving its slot up, a waiter gone before it was served) goes
//! to the next waiter or back to the free count.

use crate::cloud::Cloud;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

tokio::task_local! {
    /// The slot the current step holds, if it runs under [`Slots::run`].
    static SLOT: Slot;
}

struct Slot {
    slots: Slots,
    permit: RefCell<Option<Permit>>,
}

/// The executor's `--parallelism`: at most this many steps work at once, where a step
/// sleeping (a poll's interval, a retry's backoff, a wait for a client-side token: every
/// sleep through [`sleep`]) holds no slot, so steps that wait do not keep others from
/// working (a hundred instances booting, a hundred terminations being waited for).
#[derive(Clone, Debug)]
pub struct Slots(Arc<Mutex<Queue>>);

#[derive(Debug)]
struct Queue {
    free: usize,
    /// Steps whose reserved token has come due: served first.
    due: VecDeque<oneshot::Sender<Permit>>,
    /// Every other step waiting for a slot.
    waiting: VecDeque<oneshot::Sender<Permit>>,
}

/// One slot held; dropping it hands the slot on (`None`: a permit never handed out).
#[derive(Debug)]
struct Permit(Option<Slots>);

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(slots) = self.0.take() {
            slots.release();
        }
    }
}

impl Slots {
    pub fn new(concurrency: usize) -> Self {
        Slots(Arc::new(Mutex::new(Queue { free: concurrency.max(1), due: VecDeque::new(), waiting: VecDeque::new() })))
    }

    /// Runs `work` holding a slot, except while it sleeps through [`sleep`].
    pub async fn run<F: Future>(&self, work: F) -> F::Output {
        let permit = self.acquire(false).await;
        SLOT.scope(Slot { slots: self.clone(), permit: RefCell::new(Some(permit)) }, work).await
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot: at once if one is free, else when one is handed on (`due` waiters first).
    async fn acquire(&self, due: bool) -> Permit {
        loop {
            let receiver = {
                let mut queue = self.queue();
                if queue.free > 0 {
                    queue.free -= 1;
                    return Permit(Some(self.clone()));
                }
                let (sender, receiver) = oneshot::channel();
                if due {
                    queue.due.push_back(sender);
                } else {
                    queue.waiting.push_back(sender);
                }
                receiver
            };
            // A sender is only dropped unsent when its queue is gone, which this `Slots`
            // keeps alive; were it to happen, queue again rather than run without a slot.
            if let Ok(permit) = receiver.await {
                return permit;
            }
        }
    }

    /// A permit was dropped: hand it to the first waiter still there, or free it.
    fn release(&self) {
        let mut queue = self.queue();
        loop {
            let Some(sender) = queue.due.pop_front().or_else(|| queue.waiting.pop_front()) else {
                queue.free += 1;
                return;
            };
            match sender.send(Permit(Some(self.clone()))) {
                Ok(()) => return,
                // The waiter is gone: the permit comes back unsent. Disarm it (its drop
                // would release again under this lock) and serve the next.
                Err(mut permit) => permit.0 = None,
            }
        }
    }
}

/// Sleeps on the cloud's clock; a step running under [`Slots::run`] gives its slot up
/// meanwhile and takes one again (waiting its turn) before it goes on.
pub async fn sleep(cloud: &dyn Cloud, duration: Duration) {
    unslotted(cloud.sleep(duration)).await
}

/// [`sleep`] until a client-side token reserved for the step's next call is there: the
/// step takes its slot back ahead of steps that have not started, so the call goes out
/// when its token is due.
pub(crate) async fn sleep_for_token(cloud: &dyn Cloud, duration: Duration) {
    without_slot(cloud.sleep(duration), true).await
}

/// Runs `wait` (a sleep, or a wait for what another step holds) without the current
/// step's slot, and takes a slot again after it: a step never waits for another while
/// holding a slot that other one may need.
pub async fn unslotted<F: Future>(wait: F) -> F::Output {
    without_slot(wait, false).await
}

async fn without_slot<F: Future>(wait: F, due: bool) -> F::Output {
    let slots = SLOT
        .try_with(|slot| {
            slot.permit.borrow_mut().take().map(drop)?;
            Some(slot.slots.clone())
        })
        .ok()
        .flatten();
    let out = wait.await;
    if let Some(slots) = slots {
        let permit = slots.acquire(due).await;
        let _ = SLOT.try_with(|slot| *slot.permit.borrow_mut() = Some(permit));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two slots: a due waiter is served before the steps queued ahead of it; a waiter
    /// gone before its turn does not lose the slot; the free count comes back whole.
    #[tokio::test]
    async fn due_waiters_go_first_and_no_slot_is_lost() {
        let slots = Slots::new(2);
        let a = slots.acquire(false).await;
        let b = slots.acquire(false).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, due) in [("first", false), ("gone", false), ("second", false), ("due", true)] {
            let (slots, order) = (slots.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let permit = slots.acquire(due).await;
                order.lock().unwrap().push(name);
                permit
            }));
            tokio::task::yield_now().await;
        }
        // "gone" gives up waiting before it is served.
        tasks.remove(1).abort();
        tokio::task::yield_now().await;
        drop(a);
        let due = tasks.pop().unwrap().await.unwrap();
        drop(b);
        let first = tasks.remove(0).await.unwrap();
        drop(due);
        let second = tasks.remove(0).await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["due", "first", "second"]);
        drop((first, second));
        assert_eq!(slots.queue().free, 2, "every slot back");
        assert!(slots.queue().waiting.is_empty() && slots.queue().due.is_empty());
    }
}
