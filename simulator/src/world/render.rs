//! Text for people: the world summary (`cellar sim show`), the event trace
//! (`cellar sim log`), log line stamps, and scheduled transitions in words.
//!
//! Invariants: rendering only reads the world; everything is in words and ids (never Rust
//! `Debug` text); the same world renders byte-identically.

use super::{LogEntry, SimAddress, SimGroup, SimInstance, SimSnapshot, SimTemplate, Transition, World};
use crate::faults::{CapacityChange, ScheduledTermination};
use cellar_engine::agent::parse_user_data;
use cellar_engine::model::*;
use std::fmt::Write;

impl LogEntry {
    /// `YYYY-MM-DDTHH:MM:SSZ`, or with `.mmm` before the `Z` when `millis` is asked for.
    pub fn stamp(&self, millis: bool) -> String {
        stamp(self.at, self.millis, millis)
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, or `YYYY-MM-DDTHH:MM:SS.mmmZ` with `with_millis`.
fn stamp(at: Timestamp, millis: u16, with_millis: bool) -> String {
    let text = at.rfc3339();
    if with_millis {
        format!("{}.{millis:03}Z", text.trim_end_matches('Z'))
    } else {
        text
    }
}

impl Transition {
    /// What the transition will do, in words (`i-0002 disappears from describe`).
    pub fn describe(&self) -> String {
        match self {
            Transition::InstanceRunning(id) => format!("{id} finishes booting (pending -> running)"),
            Transition::InstanceTerminated(id) => format!("{id} finishes shutting down (shutting-down -> terminated)"),
            Transition::InstanceRemoved(id) => format!("{id} disappears from describe"),
            Transition::VolumeAvailable(id) => format!("volume {id} becomes available"),
            Transition::GroupRetry(name) => format!("auto scaling group {name} may retry its failed launch"),
            Transition::GroupDeleted(name) => {
                format!("auto scaling group {name} disappears if its instances are terminated (delete in progress)")
            }
            Transition::RandomTermination => "random termination fault: Amazon terminates a live instance".to_string(),
            Transition::FaultCapacity(CapacityChange { zone, instance_type, count, .. }) => {
                format!("capacity change (fault schedule): {instance_type} in {zone} set to {count}")
            }
            Transition::FaultTermination(ScheduledTermination { target, .. }) => {
                format!("scheduled termination fault: Amazon terminates {target}")
            }
            Transition::FaultImpairment(f) => {
                format!("impairment fault: the {} status check of {} turns impaired", f.check.as_str(), f.target)
            }
            Transition::FaultEvent(e) => format!("scheduled event fault: AWS announces {} for {}", e.code, e.target),
            Transition::ImpairmentEnded(id) => format!("{id}'s impaired status checks recover"),
            Transition::EventDue(id, event) => format!("scheduled event {event} of {id} falls due"),
            Transition::EventExpired(id, event) => format!("completed event {event} of {id} is no longer listed"),
            Transition::InstanceStopped(id) => format!("{id} finishes stopping (stopping -> stopped)"),
            Transition::GroupHealthCheck(name) => format!("auto scaling group {name} health-checks its members"),
            Transition::ImageAvailable(id) => format!("image {id} becomes available"),
            Transition::SnapshotCompleted(id) => format!("snapshot {id} completes"),
            Transition::AgentStart(id) => format!("the agent of {id} starts (cloud-init runs its user data)"),
        }
    }
}

impl World {
    /// A readable multi-line summary (`cellar sim show`).
    pub fn render_summary(&self) -> String {
        let mut out = String::new();
        self.render_header(&mut out);
        for region in &self.regions {
            let r = &region.region;
            let letters: String = region.zones.iter().map(|z| z.letter().to_string()).collect::<Vec<_>>().join(", ");
            let _ = writeln!(out, "\nregion {r} (zones {letters})");
            self.render_instances(&mut out, r);
            self.render_volumes(&mut out, r);
            self.render_addresses(&mut out, r);
            self.render_images(&mut out, r);
            self.render_snapshots(&mut out, r);
            self.render_templates(&mut out, r);
            self.render_configurations(&mut out, r);
            self.render_groups(&mut out, r);
            self.render_network(&mut out, r);
        }
        self.render_footer(&mut out);
        out
    }

    /// The event trace (`cellar sim log`), one line per entry: `YYYY-MM-DDTHH:MM:SSZ  message`,
    /// with `.mmm` milliseconds on every line when any shown entry has some. `last` keeps
    /// only the newest entries.
    pub fn render_log(&self, last: Option<usize>) -> String {
        let start = last.map_or(0, |n| self.log.len().saturating_sub(n));
        let entries = || self.log.iter().skip(start);
        let millis = entries().any(|e| e.millis != 0);
        let mut out = String::new();
        for entry in entries() {
            let _ = writeln!(out, "{}  {}", entry.stamp(millis), entry.message);
        }
        out
    }

    /// Clock, faults and call count.
    fn render_header(&self, out: &mut String) {
        let _ = writeln!(out, "clock: {} ({})", stamp(self.now, self.millis, self.millis != 0), self.now.0);
        let faults = self.faults.describe();
        if faults.is_empty() {
            let _ = writeln!(out, "faults: none");
        } else {
            let _ = writeln!(out, "faults:");
            for line in faults {
                let _ = writeln!(out, "  {line}");
            }
        }
        if self.api_calls > 0 {
            let _ = writeln!(out, "api calls served: {}", self.api_calls);
        }
    }

    fn render_instances(&self, out: &mut String, r: &Region) {
        let instances: Vec<&SimInstance> = self.instances.values().filter(|i| i.zone.region() == *r).collect();
        section(out, "instances", instances.len());
        for i in instances {
            let ip = self.public_ip_of(&i.id).map(|ip| format!("  ip {ip}")).unwrap_or_default();
            let group = i.group.as_ref().map(|g| format!("  group {g}")).unwrap_or_default();
            let agent = agent_label(&i.user_data);
            let profile = self.instance_profile(&i.id).map(|p| format!("  profile {p}")).unwrap_or_default();
            let hidden = match i.visible_at_ms {
                Some(t) if !i.is_visible(self.now_ms()) => {
                    format!("  invisible until {}", stamp(Timestamp(t / 1000), (t % 1000) as u16, t % 1000 != 0))
                }
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "    {}  {}  {}  {}  {}{ip}{group}{agent}{profile}{hidden}{}",
                i.id,
                i.state,
                i.zone,
                i.instance_type,
                i.image,
                tag_suffix(&i.tags)
            );
        }
    }

    fn render_volumes(&self, out: &mut String, r: &Region) {
        let volumes: Vec<&Volume> = self.volumes.values().filter(|v| v.zone.region() == *r).collect();
        section(out, "volumes", volumes.len());
        for v in volumes {
            let attached = match (&v.attached_to, &v.device) {
                (Some(i), Some(d)) => format!("  attached to {i} as {d}"),
                (Some(i), None) => format!("  attached to {i}"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "    {}  {}  {}  {} GiB{attached}{}",
                v.id,
                v.state,
                v.zone,
                v.size_gb,
                tag_suffix(&v.tags)
            );
        }
    }

    fn render_addresses(&self, out: &mut String, r: &Region) {
        let addresses: Vec<&SimAddress> = self.addresses.values().filter(|a| a.region == *r).collect();
        section(out, "addresses", addresses.len());
        for a in addresses {
            let assoc = match &a.associated_to {
                Some(i) => format!("associated with {i}"),
                None => "unassociated".to_string(),
            };
            let _ = writeln!(out, "    {}  {}  {assoc}{}", a.allocation_id, a.public_ip, tag_suffix(&a.tags));
        }
    }

    fn render_images(&self, out: &mut String, r: &Region) {
        let images: Vec<&Image> = self.images.values().filter(|i| i.region == *r).collect();
        section(out, "images", images.len());
        for i in images {
            let state = match i.state {
                ImageState::Available => String::new(),
                other => format!("  {}", image_state(other)),
            };
            let _ = writeln!(out, "    {}  {}  {}{state}{}", i.id, i.name, i.architecture, tag_suffix(&i.tags));
        }
    }

    fn render_snapshots(&self, out: &mut String, r: &Region) {
        let snapshots: Vec<&SimSnapshot> = self.snapshots.values().filter(|s| s.region == *r).collect();
        section(out, "snapshots", snapshots.len());
        for s in snapshots {
            let _ = writeln!(
                out,
                "    {}  {}  of {}  {} GiB  started {}{}",
                s.id,
                snapshot_state(s.state),
                s.volume,
                s.size_gb,
                s.created_at.rfc3339(),
                tag_suffix(&s.tags)
            );
        }
    }

    fn render_templates(&self, out: &mut String, r: &Region) {
        let templates: Vec<&SimTemplate> = self.templates.values().filter(|t| t.region == *r).collect();
        section(out, "launch templates", templates.len());
        for t in templates {
            let latest = t.versions.last().expect("at least one version");
            let _ = writeln!(
                out,
                "    {}  {}  v{} (default v{})  {}  {}{}{}",
                t.id,
                t.name,
                t.latest_version(),
                t.default_version,
                latest.instance_type,
                latest.image,
                agent_label(&latest.user_data),
                tag_suffix(&t.tags)
            );
        }
        // Server locks (launch templates on AWS), listed only when there are any.
        let locks: Vec<_> = self.locks().filter(|(region, _, _)| *region == r).collect();
        if !locks.is_empty() {
            section(out, "server locks", locks.len());
        }
        for (_, name, tags) in locks {
            let holder = cellar_engine::lock::LockHolder::from_tags(tags);
            let _ = writeln!(out, "    {name}  held by {holder}");
        }
    }

    fn render_configurations(&self, out: &mut String, r: &Region) {
        section(out, "launch configurations", self.launch_configurations_in(r).count());
        for c in self.launch_configurations_in(r) {
            let agent = agent_label(&c.spec.user_data);
            let _ = writeln!(out, "    {}  {}  {}{agent}", c.name, c.spec.instance_type, c.spec.image);
        }
    }

    fn render_groups(&self, out: &mut String, r: &Region) {
        let groups: Vec<&SimGroup> = self.groups.values().filter(|g| g.region == *r).collect();
        section(out, "auto scaling groups", groups.len());
        for g in groups {
            let members = if g.instances.is_empty() {
                "no instances".to_string()
            } else {
                format!("instances {}", g.instances.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(", "))
            };
            let retry = g.retry_at.map(|t| format!("  retry at {}", t.rfc3339())).unwrap_or_default();
            let deleting = if g.deleting { "  DELETE IN PROGRESS" } else { "" };
            let _ = writeln!(
                out,
                "    {}  {}  {}  min {} max {} desired {}  {members}{retry}{deleting}{}",
                g.name,
                launch_label(&g.launch),
                zone_list(&g.zones),
                g.min,
                g.max,
                g.desired,
                tag_suffix(&g.tags)
            );
            if let Some(a) = g.activities.last() {
                let status = if a.succeeded { "ok" } else { "FAILED" };
                let _ = writeln!(out, "      last activity {} {status}: {}", a.at.rfc3339(), a.description);
            }
        }
    }

    /// Capacity, quotas, instance profiles, DNS, what is scheduled, due agents and the
    /// newest log entries.
    fn render_footer(&self, out: &mut String) {
        let _ = writeln!(out, "\ncapacity: {} per zone and type unless overridden", self.default_capacity);
        for (zone, itype, n) in self.capacity_overrides() {
            let _ = writeln!(out, "  {zone} {itype}: {n} more launches");
        }
        let _ = writeln!(out, "Elastic IP quota: {} per region", self.address_limit);
        let invisible: Vec<String> = self
            .invisible()
            .map(|(key, at)| format!("{key} until {}", stamp(Timestamp(at / 1000), (at % 1000) as u16, at % 1000 != 0)))
            .collect();
        if !invisible.is_empty() {
            let _ = writeln!(out, "not visible yet (eventual consistency): {}", invisible.join(", "));
        }
        // Shown only when set: the default (an administrator's rights) goes without saying.
        if let Some(actions) = &self.operator_actions {
            let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
            let allowed = if actions.is_empty() { "nothing".to_string() } else { actions.join(", ") };
            let _ = writeln!(out, "operator policy (what cellar's own calls may do): {allowed}");
        }
        if !self.instance_profiles.is_empty() {
            let _ = writeln!(out, "\ninstance profiles:");
            for (name, actions) in &self.instance_profiles {
                let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
                let _ = writeln!(out, "  {name}: {}", actions.join(", "));
            }
        }
        if !self.dns.is_empty() {
            let _ = writeln!(out, "\ndns:");
            for (host, ips) in self.dns_records() {
                let _ = writeln!(out, "  {host} -> {}", ips.join(", "));
            }
        }
        let scheduled = self.scheduler.events();
        if let Some(next) = scheduled.first() {
            let _ = writeln!(
                out,
                "\nscheduled: {} transition(s), next at {}: {}",
                scheduled.len(),
                next.at.rfc3339(),
                next.transition.describe()
            );
        }
        if !self.agents_due.is_empty() {
            let ids: Vec<&str> = self.agents_due.iter().map(|i| i.as_str()).collect();
            let _ = writeln!(out, "agents due: {}", ids.join(", "));
        }
        let start = self.log.len().saturating_sub(10);
        let _ = writeln!(out, "\nlast {} of {} log entries:", self.log.len() - start, self.log.len());
        for line in self.render_log(Some(10)).lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
}

fn section(out: &mut String, title: &str, count: usize) {
    if count == 0 {
        let _ = writeln!(out, "  {title}: none");
    } else {
        let _ = writeln!(out, "  {title}:");
    }
}

/// `  agent spawn` for user data that runs the agent, or nothing.
fn agent_label(user_data: &str) -> String {
    parse_user_data(user_data).map(|a| format!("  agent {}", a.mode)).unwrap_or_default()
}

pub(super) fn image_state(state: ImageState) -> &'static str {
    match state {
        ImageState::Pending => "pending",
        ImageState::Available => "available",
        ImageState::Failed => "failed",
    }
}

fn snapshot_state(state: SnapshotState) -> &'static str {
    state.as_str()
}

/// `lt-0001@v2`, `lt-0001@$Latest` or `lc:name`, for the summary.
fn launch_label(launch: &LaunchSource) -> String {
    match launch {
        LaunchSource::Template { id, version: Some(v) } => format!("{id}@v{v}"),
        LaunchSource::Template { id, version: None } => format!("{id}@$Latest"),
        LaunchSource::Configuration { name } => format!("lc:{name}"),
    }
}

pub(super) fn zone_list(zones: &[Zone]) -> String {
    zones.iter().map(|z| z.as_str()).collect::<Vec<_>>().join(", ")
}

/// `  [Name=x cellar:role=data]`, or nothing for no tags.
pub(super) fn tag_suffix(tags: &Tags) -> String {
    if tags.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("  [{}]", parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::default_world;

    /// Every kind of transition, as the scheduler may hold it.
    fn every_transition() -> Vec<Transition> {
        let at = Timestamp(1_795_565_400);
        vec![
            Transition::InstanceRunning(InstanceId::new("i-0002")),
            Transition::InstanceTerminated(InstanceId::new("i-0002")),
            Transition::InstanceRemoved(InstanceId::new("i-0002")),
            Transition::VolumeAvailable(VolumeId::new("vol-0001")),
            Transition::GroupRetry(AutoScalingGroupName::new("duvel")),
            Transition::RandomTermination,
            Transition::FaultCapacity(CapacityChange {
                at,
                zone: Zone::new("us-east-1a"),
                instance_type: InstanceType::new("t3.small"),
                count: 0,
            }),
            Transition::FaultTermination(ScheduledTermination { at, target: "duvel".into() }),
            Transition::ImageAvailable(ImageId::new("ami-0009")),
            Transition::SnapshotCompleted(SnapshotId::new("snap-0001")),
        ]
    }

    fn check(transition: Transition, expected: &str) {
        assert_eq!(transition.describe(), expected);
    }

    #[test]
    fn transitions_are_described_in_words() {
        let expected = [
            "i-0002 finishes booting (pending -> running)",
            "i-0002 finishes shutting down (shutting-down -> terminated)",
            "i-0002 disappears from describe",
            "volume vol-0001 becomes available",
            "auto scaling group duvel may retry its failed launch",
            "random termination fault: Amazon terminates a live instance",
            "capacity change (fault schedule): t3.small in us-east-1a set to 0",
            "scheduled termination fault: Amazon terminates duvel",
            "image ami-0009 becomes available",
            "snapshot snap-0001 completes",
        ];
        assert_eq!(every_transition().len(), expected.len());
        for (transition, words) in every_transition().into_iter().zip(expected) {
            check(transition, words);
        }
    }

    #[test]
    fn no_rendering_shows_debug_text() {
        for transition in every_transition() {
            let mut w = default_world();
            w.schedule(60, transition.clone());
            let summary = w.render_summary();
            let words = transition.describe();
            assert!(summary.contains(&format!("next at 2026-11-25T00:01:00Z: {words}\n")), "{summary}");
            for debug in ["(\"", "(InstanceId", "InstanceId(", "Some(", "Timestamp("] {
                assert!(!summary.contains(debug), "{debug:?} in the summary of {words}:\n{summary}");
                assert!(!words.contains(debug), "{debug:?} in {words}");
            }
        }
    }
}
