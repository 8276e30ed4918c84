//! Fault injection in the world: installing [`Faults`], the gate every Cloud call passes
//! through ([`World::begin_call`] / [`World::end_call`]), and the fault transitions.
//!
//! Invariants: every random draw comes from the world's one `Rng`, in a fixed order per
//! call (latency when it is sent, throttling and transient error when it arrives), so a
//! seed replays the same calls made in the same order; installed faults are
//! always valid ([`Faults::validate`], zones and instance types of this world), and
//! installing them replaces every fault transition scheduled before; a call refused here
//! changes nothing but the clock, the call count, the token buckets and the log.

use super::{err, Transition, World};
use crate::faults::{CapacityChange, Faults, ScheduledTermination};
use cellar_engine::api::{Api, Service};
use cellar_engine::cloud::{CloudError, CloudErrorKind as K, CloudResult};
use cellar_engine::limits::TokenBucket;
use cellar_engine::model::*;

/// Random terminations are never scheduled further out than this (a rate near zero).
const MAX_FAULT_DELAY_SECS: u64 = 100 * 365 * 86_400;

impl World {
    /// Installs `faults` (replacing the previous ones): cancels the fault transitions
    /// already scheduled and schedules the new ones (capacity changes, terminations, the
    /// first random termination). A `terminate_at_call` of 0 calls fires at once. Errors
    /// (naming the bad field) leave the world unchanged.
    pub fn set_faults(&mut self, faults: Faults) -> Result<(), String> {
        self.check_faults(&faults)?;
        self.scheduler.cancel(Transition::is_fault);
        if !faults.throttling {
            self.buckets.clear();
        }
        self.faults = faults;
        let described = self.faults.describe();
        if described.is_empty() {
            self.record("faults: none");
        } else {
            self.record(format!("faults: {}", described.join("; ")));
        }
        for change in self.faults.capacity.clone() {
            self.scheduler.schedule_at(change.at, Transition::FaultCapacity(change));
        }
        for termination in self.faults.terminations.clone() {
            self.scheduler.schedule_at(termination.at, Transition::FaultTermination(termination));
        }
        for impairment in self.faults.impairments.clone() {
            self.scheduler.schedule_at(impairment.at, Transition::FaultImpairment(impairment));
        }
        for event in self.faults.scheduled_events.clone() {
            self.scheduler.schedule_at(event.at, Transition::FaultEvent(event));
        }
        self.schedule_random_termination();
        if self.faults.terminate_at_call.as_ref().is_some_and(|t| t.calls == 0) {
            self.fire_terminate_at_call();
        }
        Ok(())
    }

    /// [`Faults::validate`], and the capacity changes name zones of this world and instance
    /// types the catalog knows. The error starts with the bad field's name.
    pub(super) fn check_faults(&self, faults: &Faults) -> Result<(), String> {
        faults.validate()?;
        for (i, change) in faults.capacity.iter().enumerate() {
            self.check_world_zone(&change.zone).map_err(|e| format!("capacity[{i}].zone: {e}"))?;
            self.check_capacity_target(&change.zone, &change.instance_type)
                .map_err(|e| format!("capacity[{i}].instance_type: {e}"))?;
        }
        Ok(())
    }

    /// A call's latency, drawn when it is sent ([`Faults::latency_ms`]; 0 without): the
    /// caller sleeps that long on the virtual clock (`Sim`, outside the world lock, so
    /// concurrent calls overlap as AWS's do), then passes [`World::begin_call`]. The call
    /// reaches AWS and takes effect at the end of its latency; its answer returns at once.
    pub fn draw_latency_ms(&mut self) -> u64 {
        let (min, max) = self.faults.latency_ms;
        if max == 0 {
            return 0;
        }
        self.rng.range(min, max)
    }

    /// The gate in front of every Cloud call, when it arrives (after its latency, see
    /// [`World::draw_latency_ms`]; `api` is the AWS operation name, `region` the region it
    /// is sent to, `unfiltered` marks a describe of everything): counts the call, then
    /// applies throttling and transient errors. An error here means the call must not run.
    pub fn begin_call(&mut self, api: Api, region: Option<&Region>, unfiltered: bool) -> CloudResult<()> {
        self.api_calls += 1;
        if self.faults.throttling {
            if let Some(region) = region {
                let now_ms = self.now_ms();
                let buckets = self.buckets.entry(region.clone()).or_default();
                let wanted = api.buckets(unfiltered);
                // A token from each of the call's buckets, or none from any.
                let empty = wanted.iter().copied().find(|&bucket| {
                    !buckets
                        .entry(bucket)
                        .or_insert_with(|| TokenBucket::full(bucket, now_ms))
                        .has_token(bucket, now_ms)
                });
                if let Some(bucket) = empty {
                    self.record(format!("{api} in {region}: RequestLimitExceeded (throttled, {bucket} bucket)"));
                    return Err(match api.service() {
                        // Auto Scaling's spelling of it.
                        Service::AutoScaling => CloudError::from_code("Throttling", "Rate exceeded"),
                        _ => err(K::RequestLimitExceeded, "Request limit exceeded."),
                    });
                }
                for bucket in wanted {
                    if let Some(tokens) = buckets.get_mut(&bucket) {
                        tokens.try_take(bucket, now_ms);
                    }
                }
            }
        }
        if self.rng.chance(self.faults.transient_error_rate) {
            let (kind, message) = if self.rng.next_u64().is_multiple_of(2) {
                (K::InternalError, "An internal error has occurred.")
            } else {
                (K::Unavailable, "The server is overloaded and cannot handle the request.")
            };
            let place = region.map(|r| format!(" in {r}")).unwrap_or_default();
            self.record(format!("{api}{place}: {} (injected fault)", kind.code()));
            return Err(err(kind, message));
        }
        Ok(())
    }

    /// Before the gate, for the operator's calls (not an agent's, not a DNS lookup): an
    /// outage ([`Faults::outages`]) fails the call with `Unavailable`, as a connection to
    /// AWS that is lost: it never reached AWS, so it is not counted and takes no token.
    pub fn check_outage(&mut self, api: Api, region: Option<&Region>) -> CloudResult<()> {
        let Some(outage) = self.faults.outage_at(self.now) else {
            return Ok(());
        };
        let until = Timestamp(outage.at.0.saturating_add(outage.secs));
        let place = region.map(|r| format!(" in {r}")).unwrap_or_default();
        self.record(format!("{api}{place}: Unavailable (outage fault until {})", until.rfc3339()));
        Err(err(K::Unavailable, "Could not connect to the endpoint URL: the connection to AWS was lost."))
    }

    /// After a call that passed [`World::begin_call`] ran (whatever its result): counts
    /// mutating calls down for [`Faults::terminate_at_call`].
    pub fn end_call(&mut self, api: Api) {
        if !api.is_mutating() {
            return;
        }
        if let Some(t) = &mut self.faults.terminate_at_call {
            t.calls = t.calls.saturating_sub(1);
            if t.calls == 0 {
                self.fire_terminate_at_call();
            }
        }
    }

    /// After a call that succeeded: whether its response is lost
    /// ([`Faults::lost_responses`]). The change stands; the caller gets the error returned
    /// (`InternalError` or `Unavailable`, 50/50) instead of the result. Draws from the
    /// `Rng` only for a covered call.
    pub fn lose_response(&mut self, api: Api) -> Option<CloudError> {
        let lost = self.faults.lost_responses.as_mut().filter(|l| l.covers(api))?;
        let at_call = match lost.at_call {
            Some(1) => {
                lost.at_call = None;
                true
            }
            Some(k) => {
                lost.at_call = Some(k - 1);
                false
            }
            None => false,
        };
        let rate = lost.rate;
        let lose = at_call || (rate > 0.0 && self.rng.chance(rate));
        if !lose {
            return None;
        }
        let (kind, message) = if self.rng.next_u64().is_multiple_of(2) {
            (K::InternalError, "An internal error has occurred.")
        } else {
            (K::Unavailable, "The request timed out.")
        };
        self.record(format!("{api}: took effect, response lost ({}, injected fault)", kind.code()));
        Some(err(kind, message))
    }

    /// Terminates the instance [`Faults::terminate_at_call`] asks for and clears it.
    fn fire_terminate_at_call(&mut self) {
        let Some(t) = self.faults.terminate_at_call.take() else {
            return;
        };
        // Picks among the live instances of the server, or of the whole account.
        let need = t.server.as_ref().map_or(super::Need::All, |s| super::Need::Name(s.to_string()));
        self.ensure(&[need]);
        let live: Vec<InstanceId> = self
            .instances
            .values()
            .filter(|i| i.is_live())
            .filter(|i| t.server.as_ref().is_none_or(|s| i.tags.get(NAME_TAG).map(String::as_str) == Some(s.as_str())))
            .map(|i| i.id.clone())
            .collect();
        match self.rng.pick(&live).cloned() {
            Some(id) => self.begin_termination(&id, "terminated by Amazon (terminate_at_call fault)"),
            None => {
                let whom = t.server.map(|s| format!(" of server {s}")).unwrap_or_default();
                self.record(format!("terminate_at_call fault: no live instance{whom} to terminate"));
            }
        }
    }

    /// Schedules the next random termination (exponential inter-arrival time).
    fn schedule_random_termination(&mut self) {
        let per_hour = self.faults.terminations_per_hour;
        if per_hour <= 0.0 {
            return;
        }
        let u = self.rng.unit();
        let secs = -(1.0 - u).ln() * 3600.0 / per_hour;
        let secs = if secs.is_finite() { secs.ceil().clamp(1.0, MAX_FAULT_DELAY_SECS as f64) as u64 } else { 1 };
        self.schedule(secs, Transition::RandomTermination);
    }

    /// [`Transition::RandomTermination`]: a random live instance dies, the next is scheduled.
    pub(super) fn random_termination(&mut self) {
        if self.faults.terminations_per_hour <= 0.0 {
            return;
        }
        let live: Vec<InstanceId> = self.instances.values().filter(|i| i.is_live()).map(|i| i.id.clone()).collect();
        if let Some(id) = self.rng.pick(&live).cloned() {
            self.begin_termination(&id, "terminated by Amazon (random fault)");
        }
        self.schedule_random_termination();
    }

    /// [`Transition::FaultCapacity`]: applies the change and drops it from the schedule.
    pub(super) fn scheduled_capacity_change(&mut self, change: CapacityChange) {
        if let Some(pos) = self.faults.capacity.iter().position(|c| *c == change) {
            self.faults.capacity.remove(pos);
        }
        let CapacityChange { zone, instance_type, count, .. } = change;
        self.capacity.entry(zone.clone()).or_default().insert(instance_type.clone(), count);
        self.record(format!("capacity for {instance_type} in {zone} set to {count} (fault schedule)"));
    }

    /// [`Transition::FaultTermination`]: terminates the target and drops it from the schedule.
    pub(super) fn scheduled_termination(&mut self, termination: ScheduledTermination) {
        if let Some(pos) = self.faults.terminations.iter().position(|t| *t == termination) {
            self.faults.terminations.remove(pos);
        }
        let target = termination.target.trim();
        match self.fault_target(target) {
            Some(id) => self.begin_termination(&id, "terminated by Amazon (scheduled fault)"),
            None => self.record(format!("scheduled termination fault: no live instance for {target}")),
        }
    }
}
