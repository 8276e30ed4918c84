//! `cellar status`'s table: one line per server, for a fleet at a glance (`cellar status
//! NAME` prints one server's details instead). Pure: the statuses, the images of their
//! regions and the backend's clock in, text out.
//!
//! Columns: name, health, since when (`ServerStatus::since`: a running server's instance's
//! launch, a down or stopped one's last scaling activity), instance and type, image
//! name and age ("outdated" when a newer image of its type and architecture exists in the
//! region), zone, address, group, whether it matches its configuration, and the reason;
//! `-o wide` adds the data volumes and what the group launches from.

use cellar_engine::model::{split_image_name_str, Image, ImageState, Timestamp};
use cellar_engine::plan::Drift;
use cellar_engine::status::ServerStatus;

/// One server of the table: its status and its drift (`None`: not compared).
pub type Row<'a> = (&'a ServerStatus, Option<&'a [Drift]>);

/// The table of `rows`, with a header; `paint` colours a health word (it returns the word
/// as it is when there is no colour). Columns are as wide as their widest cell.
pub fn render(
    rows: &[Row<'_>],
    images: &[Image],
    now: Timestamp,
    wide: bool,
    paint: impl Fn(&ServerStatus) -> String,
) -> String {
    let mut header = vec!["NAME", "HEALTH", "SINCE", "INSTANCE", "TYPE", "IMAGE", "AGE", "ZONE", "ADDRESS", "GROUP"];
    if wide {
        header.extend(["VOLUMES", "LAUNCHES"]);
    }
    header.extend(["CONFIG", "REASON"]);
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for (status, drift) in rows {
        table.push(cells(status, *drift, images, now, wide));
    }
    let widths: Vec<usize> =
        (0..table[0].len()).map(|c| table.iter().map(|row| row[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (r, row) in table.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let last = c + 1 == row.len();
            let text = match (r, c) {
                (1.., 1) => paint(rows[r - 1].0) + &" ".repeat(widths[c] - cell.chars().count()),
                _ if last => cell.clone(),
                _ => format!("{cell:<width$}", width = widths[c]),
            };
            line.push_str(&text);
            if !last {
                line.push_str("  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn cells(s: &ServerStatus, drift: Option<&[Drift]>, images: &[Image], now: Timestamp, wide: bool) -> Vec<String> {
    let dash = || "-".to_string();
    let instance = s.instance.as_ref();
    let image = instance.and_then(|i| images.iter().find(|img| img.id == i.ami && img.region == s.region));
    let image_cell = match (instance, image) {
        (None, _) => dash(),
        (Some(i), None) => i.ami.to_string(),
        (Some(_), Some(img)) if outdated(img, images) => format!("{} (outdated)", img.name),
        (Some(_), Some(img)) => img.name.clone(),
    };
    let mut row = vec![
        s.name.to_string(),
        s.health.as_str().to_string(),
        s.since().map(|t| age(now, t)).unwrap_or_else(dash),
        instance.map(|i| i.id.to_string()).unwrap_or_else(dash),
        instance.map(|i| i.instance_type.to_string()).unwrap_or_else(dash),
        image_cell,
        image.map(|img| age(now, img.created_at)).unwrap_or_else(dash),
        instance.map(|i| i.zone.to_string()).unwrap_or_else(dash),
        s.address.as_ref().map(|a| a.public_ip.clone()).unwrap_or_else(dash),
        s.auto_scaling.as_ref().map(|g| format!("{} ({})", g.group, g.desired)).unwrap_or_else(dash),
    ];
    if wide {
        let volumes: Vec<String> =
            s.volume.iter().chain(&s.other_volumes).map(|v| format!("{} {}GiB", v.id, v.size_gb)).collect();
        row.push(if volumes.is_empty() { dash() } else { volumes.join(",") });
        row.push(match &s.auto_scaling {
            None => dash(),
            Some(g) => match (&g.launch_configuration, g.template_version) {
                (Some(name), _) => format!("config {name}"),
                (None, Some(v)) => format!("template v{v}"),
                (None, None) => "template $Latest".to_string(),
            },
        });
    }
    row.push(match drift {
        None => dash(),
        Some([]) => "matches".to_string(),
        Some(_) => "differs".to_string(),
    });
    row.push(s.reason.clone());
    row
}

/// Whether a newer available image of `image`'s type and architecture exists in its region.
fn outdated(image: &Image, images: &[Image]) -> bool {
    let Some((kind, date)) = split_image_name_str(&image.name) else { return false };
    images.iter().any(|other| {
        other.region == image.region
            && other.architecture == image.architecture
            && other.state == ImageState::Available
            && split_image_name_str(&other.name).is_some_and(|(k, d)| k == kind && d > date)
    })
}

/// How long ago `then` was, in its two largest units as `kubectl get` shows ages (`3d4h`,
/// `5h12m`, `4m`, `12s`). Written here: the crates for durations (humantime) spell every
/// unit out (`3days 4h 12m 5s`), too wide for a table column.
pub fn age(now: Timestamp, then: Timestamp) -> String {
    let secs = now.0.saturating_sub(then.0);
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (1.., 0, _) => format!("{d}d"),
        (1.., _, _) => format!("{d}d{h}h"),
        (0, 1.., 0) => format!("{h}h"),
        (0, 1.., _) => format!("{h}h{m}m"),
        (0, 0, 1..) => format!("{m}m"),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_age(seconds: u64, expected: &str) {
        assert_eq!(age(Timestamp(1_000_000 + seconds), Timestamp(1_000_000)), expected, "{seconds} s");
    }

    #[test]
    fn ages_in_their_two_largest_units() {
        check_age(0, "0s");
        check_age(59, "59s");
        check_age(60, "1m");
        check_age(3_599, "59m");
        check_age(3_600, "1h");
        check_age(3_660, "1h1m");
        check_age(86_400, "1d");
        check_age(86_400 + 4 * 3_600 + 59, "1d4h");
        // A clock behind the launch (another backend's) is not a negative age.
        assert_eq!(age(Timestamp(5), Timestamp(10)), "0s");
    }
}
