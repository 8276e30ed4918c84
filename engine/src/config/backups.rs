//! `backups`: when a server's data volumes are snapshotted and how long the snapshots are
//! kept ([`crate::backup`]). Parsed here into a `Layer`, checked here (each value where it
//! is written; `copy_to` against the merged server's region), built into
//! [`BackupPolicy`], and shown by `cellar config`.
//!
//! ```ron
//! backups: (daily_at: "03:00", keep_daily: 8, keep_weekly: 4, keep_monthly: 3, copy_to: ["us-west-2"]),
//! backups: (keep_daily: 14),   // every sub-field optional: the others are the defaults
//! backups: Off,                // no backups for this server (or platform, or tree)
//! ```
//!
//! Every server is backed up: without `backups` in any layer, with the defaults (daily at
//! 03:00 UTC, 8 days, 4 weeks, 3 months, no copies). `backups: Off` is the one way to
//! opt out; keeping no day, week or month (all three counts 0) is refused as pointless.
//! A later layer replaces the value whole, like `notify` (`backups: ()` in a server file
//! turns its platform's `Off` back into the defaults). Not a launch setting: no plan
//! records it ([`super::settings_of`] leaves it out).

use super::layer::{example, Layer, Parser};
use super::scan::Item;
use super::watch::{known_fields, struct_fields};
use super::{Problem, Source, Sourced};
use crate::backup::{BackupPolicy, DEFAULT_KEEP_DAILY, DEFAULT_KEEP_MONTHLY, DEFAULT_KEEP_WEEKLY, MAX_KEEP};
use crate::catalog;
use crate::model::{Region, ServerName};

/// `backups` as a file writes it.
#[derive(Clone, Debug)]
pub(crate) enum BackupsLayer {
    /// `backups: Off`.
    Off,
    On(Box<BackupsFields>),
}

/// `backups: (...)` as a file writes it.
#[derive(Clone, Debug)]
pub(crate) struct BackupsFields {
    pub daily_at: Option<Sourced<String>>,
    pub keep_daily: Option<Sourced<i64>>,
    pub keep_weekly: Option<Sourced<i64>>,
    pub keep_monthly: Option<Sourced<i64>>,
    /// The list (sourced at the list) and each region (sourced at its string).
    pub copy_to: Option<Sourced<Vec<Sourced<String>>>>,
    /// False when a sub-field could not be read (that is reported): the values read are
    /// still checked, but not what depends on the others.
    pub complete: bool,
}

const FIELDS: &[&str] = &["daily_at", "keep_daily", "keep_weekly", "keep_monthly", "copy_to"];
const OFF: &str = "Off";

pub(crate) fn set_backups(layer: &mut Layer, p: &mut Parser<'_>, v: &Item) -> bool {
    if p.scanned.text_of(v).trim() == OFF {
        layer.backups = Some(Box::new(Sourced::new(BackupsLayer::Off, p.source(v.pos))));
        return true;
    }
    let not_struct = "invalid value for `backups`: expected `(daily_at: \"03:00\", keep_daily: 8, ...)` or `Off`";
    let Some(fields) = struct_fields(p, v, "backups", not_struct) else { return false };
    let (fields, mut ok) = known_fields(p, fields, "backups", "in `backups`", FIELDS);
    let mut b = BackupsFields {
        daily_at: None,
        keep_daily: None,
        keep_weekly: None,
        keep_monthly: None,
        copy_to: None,
        complete: true,
    };
    for field in &fields {
        let value = &field.value;
        let set = match field.name.as_str() {
            "daily_at" => p.value("backups.daily_at", value).map(|v| b.daily_at = Some(v)).is_some(),
            "keep_daily" => p.value("backups.keep_daily", value).map(|v| b.keep_daily = Some(v)).is_some(),
            "keep_weekly" => p.value("backups.keep_weekly", value).map(|v| b.keep_weekly = Some(v)).is_some(),
            "keep_monthly" => p.value("backups.keep_monthly", value).map(|v| b.keep_monthly = Some(v)).is_some(),
            _ => copy_to(p, value).map(|v| b.copy_to = Some(v)).is_some(),
        };
        ok &= set;
    }
    // Kept even when not all of it could be read, so that `cellar check` reports the
    // problems of the rest too; the layer's problems keep it from being used.
    b.complete = ok;
    layer.backups = Some(Box::new(Sourced::new(BackupsLayer::On(Box::new(b)), p.source(v.pos))));
    ok
}

/// `copy_to`: a list of strings; `None` (reported) when it is not one.
fn copy_to(p: &mut Parser<'_>, v: &Item) -> Option<Sourced<Vec<Sourced<String>>>> {
    let Some(items) = p.scanned.list(v) else {
        p.problem(
            v.pos,
            "invalid value for `backups.copy_to`: expected a list of regions".into(),
            Some(format!("write it like `{}`", example("backups.copy_to"))),
        );
        return None;
    };
    let regions: Vec<Sourced<String>> = items.iter().filter_map(|i| p.value("backups.copy_to", i)).collect();
    (regions.len() == items.len()).then(|| Sourced::new(regions, p.source(v.pos)))
}

fn problem(source: &Source, message: String, fix: Option<String>) -> Problem {
    Problem { source: source.clone(), message, fix }
}

/// `HH:MM` from 00:00 to 23:59 as (hour, minute).
fn time_of_day(text: &str) -> Option<(u8, u8)> {
    let (h, m) = text.split_once(':')?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return None;
    }
    let (h, m) = (h.parse::<u8>().ok()?, m.parse::<u8>().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

/// Problems of one file's `backups`, each at the value.
pub(crate) fn layer_problems(layer: &Layer, out: &mut Vec<Problem>) {
    let Some(backups) = &layer.backups else { return };
    let BackupsLayer::On(b) = &backups.value else { return };
    if let Some(Sourced { value, source }) = &b.daily_at {
        if time_of_day(value).is_none() {
            out.push(problem(
                source,
                format!(
                    "backups.daily_at must be a time of day from \"00:00\" to \"23:59\" (HH:MM, UTC), not {value:?}"
                ),
                Some(format!("write it like `{}`", example("backups.daily_at"))),
            ));
        }
    }
    let counts = [
        ("keep_daily", &b.keep_daily, DEFAULT_KEEP_DAILY),
        ("keep_weekly", &b.keep_weekly, DEFAULT_KEEP_WEEKLY),
        ("keep_monthly", &b.keep_monthly, DEFAULT_KEEP_MONTHLY),
    ];
    for (name, count, default) in &counts {
        if let Some(Sourced { value, source }) = count {
            if !(0..=i64::from(MAX_KEEP)).contains(value) {
                out.push(problem(
                    source,
                    format!("backups.{name} must be between 0 and {MAX_KEEP}, not {value}"),
                    Some(format!("leave it out for {default}")),
                ));
            }
        }
    }
    if b.complete && counts.iter().all(|(_, count, _)| count.as_ref().is_some_and(|c| c.value == 0)) {
        out.push(problem(
            &backups.source,
            "`backups` keeps no day, week or month: every backup but the newest would be deleted".into(),
            Some(format!(
                "leave the counts out for {DEFAULT_KEEP_DAILY} days, {DEFAULT_KEEP_WEEKLY} weeks and \
                 {DEFAULT_KEEP_MONTHLY} months, or write `backups: Off` to take no backups"
            )),
        ));
    }
    if let Some(copy_to) = &b.copy_to {
        let known: Vec<&str> = catalog::REGIONS.iter().map(|(r, _)| *r).collect();
        for (i, Sourced { value, source }) in copy_to.value.iter().enumerate() {
            if catalog::zone_letters(value).is_none() {
                let closest =
                    known.iter().map(|r| (catalog::edit_distance(r, value), *r)).filter(|(d, _)| *d <= 3).min();
                let fix = match closest {
                    Some((_, r)) => format!("did you mean {r:?}?"),
                    None => format!("known regions: {}", known.join(", ")),
                };
                out.push(problem(source, format!("unknown region {value:?} in backups.copy_to"), Some(fix)));
            } else if copy_to.value[..i].iter().any(|r| r.value == *value) {
                out.push(problem(
                    source,
                    format!("region {value:?} is given twice in backups.copy_to"),
                    Some("remove one of them".into()),
                ));
            }
        }
    }
}

/// Problems of a server's merged `backups`: a copy to the server's own region.
pub(crate) fn merged_problems(name: &ServerName, merged: &Layer, out: &mut Vec<Problem>) {
    let (Some(backups), Some(region)) = (&merged.backups, &merged.region) else { return };
    let BackupsLayer::On(b) = &backups.value else { return };
    for r in b.copy_to.iter().flat_map(|c| &c.value) {
        if r.value == region.value {
            let other = if region.value == "us-west-2" { "us-east-1" } else { "us-west-2" };
            out.push(problem(
                &r.source,
                format!(
                    "backups.copy_to names {}, the region server {name} is in: a copy there is no safer than the backup itself",
                    r.value
                ),
                Some(format!("remove it, or copy to another region such as {other:?}")),
            ));
        }
    }
}

/// The backups of a merged, validated layer: the defaults when no layer sets `backups`,
/// `None` (sourced where it is written) for `backups: Off`.
pub(crate) fn build(merged: &Layer) -> Sourced<Option<BackupPolicy>> {
    let Some(backups) = merged.backups.as_deref() else {
        return Sourced::default_value(Some(BackupPolicy::default()));
    };
    let policy = match &backups.value {
        BackupsLayer::Off => None,
        BackupsLayer::On(b) => {
            let d = BackupPolicy::default();
            let count = |c: &Option<Sourced<i64>>, default: u32| c.as_ref().map_or(default, |c| c.value as u32);
            Some(BackupPolicy {
                daily_at: b
                    .daily_at
                    .as_ref()
                    .map_or(d.daily_at, |t| time_of_day(&t.value).expect("validated daily_at")),
                keep_daily: count(&b.keep_daily, d.keep_daily),
                keep_weekly: count(&b.keep_weekly, d.keep_weekly),
                keep_monthly: count(&b.keep_monthly, d.keep_monthly),
                copy_to: b.copy_to.iter().flat_map(|c| &c.value).map(|r| Region::new(r.value.clone())).collect(),
            })
        }
    };
    Sourced::new(policy, backups.source.clone())
}

/// `cellar config`'s `backups` entry: one line of RON, every default written out, or `Off`.
pub(crate) fn entry(backups: &Sourced<Option<BackupPolicy>>, out: &mut Vec<(String, String, Source)>) {
    let text = match &backups.value {
        None => OFF.to_string(),
        Some(b) => {
            let copy_to: Vec<String> = b.copy_to.iter().map(|r| format!("{:?}", r.as_str())).collect();
            format!(
                "(daily_at: {:?}, keep_daily: {}, keep_weekly: {}, keep_monthly: {}, copy_to: [{}])",
                b.daily_at_text(),
                b.keep_daily,
                b.keep_weekly,
                b.keep_monthly,
                copy_to.join(", ")
            )
        }
    };
    out.push(("backups".to_string(), text, backups.source.clone()));
}
