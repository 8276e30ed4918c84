//! The simulator's outside probe of a server's service: [`Prober`] for [`Sim`].
//!
//! What the probe finds is the world's (`world/probes.rs`). It goes through the world lock
//! as a call does, but it is not an AWS call: no latency draw, no fault gate (it is not
//! counted in `api_calls`, not throttled, and an outage of AWS's API does not stop it).
//! A probe that times out takes its whole timeout on the virtual clock (a sleep, shared
//! with every other sleeper, as a real probe's wait is); every other answer is at once.

use super::Sim;
use crate::world::probes::ProbeAnswer;
use async_trait::async_trait;
use cellar_engine::monitoring::{ProbeOutcome, ProbeRequest, ProbeTarget, Prober};

/// A timeout in words (`5s`, `1.5s`).
fn seconds(timeout: std::time::Duration) -> String {
    let ms = timeout.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}s", timeout.as_secs_f64())
    }
}

#[async_trait]
impl Prober for Sim {
    async fn probe(&self, request: &ProbeRequest) -> ProbeOutcome {
        let answer = self.use_world(|w| w.probe(request));
        match answer {
            ProbeAnswer::Answered => match request.target {
                ProbeTarget::Http { expect_status, .. } if expect_status != 200 => {
                    ProbeOutcome::Failed(format!("HTTP 200, expected {expect_status}"))
                }
                _ => ProbeOutcome::Up,
            },
            ProbeAnswer::Refused => ProbeOutcome::Failed("connection refused".to_string()),
            ProbeAnswer::TimedOut => {
                self.sleep_on_clock(request.timeout).await;
                ProbeOutcome::Failed(format!("connection timed out after {}", seconds(request.timeout)))
            }
            ProbeAnswer::NoRoute(ip) => {
                ProbeOutcome::Failed(format!("no route: {ip} is not associated with a running instance"))
            }
            ProbeAnswer::Unresolved(host) => ProbeOutcome::Failed(format!("could not resolve host {host}")),
        }
    }
}
