//! The world's DNS: the A records `Cloud::resolve_dns` answers (the DNS gate of a
//! create-server plan reads them), set with `cellar sim dns HOST [IP...]`.
//!
//! Invariants: every host is a valid DNS host name (RFC 1123: at most 253 characters,
//! dot-separated labels of 1-63 letters, digits and '-', no label starting or ending
//! with '-', no trailing dot); every record holds at least one address, each a
//! dotted-decimal IPv4 address (A records carry nothing else), none twice.

use super::World;
use std::net::Ipv4Addr;

/// Whether `host` is a valid DNS host name; the error names it and the rule it breaks.
fn check_host(host: &str) -> Result<(), String> {
    let problem = if host.is_empty() {
        Some("it is empty".to_string())
    } else if host.len() > 253 {
        Some(format!("it is {} characters long, above 253", host.len()))
    } else if host.ends_with('.') {
        Some("it ends with '.' (write it without the trailing dot)".to_string())
    } else {
        host.split('.').find_map(|label| label_problem(label).map(|p| format!("label {label:?} {p}")))
    };
    match problem {
        Some(problem) => Err(format!(
            "{host:?} is not a valid DNS host name: {problem} (use dot-separated labels of 1-63 letters, digits \
             and '-', e.g. chimay.imarc.net)"
        )),
        None => Ok(()),
    }
}

fn label_problem(label: &str) -> Option<&'static str> {
    if label.is_empty() {
        Some("is empty")
    } else if label.len() > 63 {
        Some("is longer than 63 characters")
    } else if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Some("contains a character other than a letter, a digit or '-'")
    } else if label.starts_with('-') || label.ends_with('-') {
        Some("starts or ends with '-'")
    } else {
        None
    }
}

/// Whether `ip` is a dotted-decimal IPv4 address as an A record holds it.
fn check_ipv4(host: &str, ip: &str) -> Result<(), String> {
    match ip.parse::<Ipv4Addr>() {
        Ok(parsed) if parsed.to_string() == ip => Ok(()),
        _ => Err(format!(
            "{ip:?} is not an IPv4 address (an A record for {host} holds dotted-decimal IPv4 addresses such as \
             198.51.100.7)"
        )),
    }
}

/// A host and its A records, as the world keeps them (see the module doc).
pub(super) fn check_record(host: &str, ips: &[String]) -> Result<(), String> {
    check_host(host)?;
    if ips.is_empty() {
        return Err(format!("{host} has a record with no address"));
    }
    for (i, ip) in ips.iter().enumerate() {
        check_ipv4(host, ip)?;
        if ips[..i].contains(ip) {
            return Err(format!("{ip} is given twice for {host} (each address once)"));
        }
    }
    Ok(())
}

impl World {
    /// Sets (or, with no addresses, removes) a host's A records. Refuses (world unchanged)
    /// a host that is not a valid DNS name and an address that is not IPv4.
    pub fn set_dns(&mut self, host: &str, ips: Vec<String>) -> Result<(), String> {
        if ips.is_empty() {
            check_host(host)?;
            self.dns.remove(host);
            self.record(format!("dns {host} removed"));
        } else {
            check_record(host, &ips)?;
            self.record(format!("dns {host} -> {}", ips.join(", ")));
            self.dns.insert(host.to_string(), ips);
        }
        Ok(())
    }

    pub fn resolve_dns(&self, host: &str) -> Vec<String> {
        self.dns.get(host).cloned().unwrap_or_default()
    }

    /// Every host with its A records.
    pub fn dns_records(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.dns.iter().map(|(h, ips)| (h.as_str(), ips.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::default_world;

    /// `set_dns(host, ips)` on the default world: Ok, or the start of the error; a refusal
    /// leaves the world unchanged, a success is what resolves.
    fn check(host: &str, ips: &[&str], expected: Result<(), &str>) {
        let mut w = default_world();
        let before = w.clone();
        let ips: Vec<String> = ips.iter().map(|s| s.to_string()).collect();
        match (w.set_dns(host, ips.clone()), expected) {
            (Ok(()), Ok(())) => assert_eq!(w.resolve_dns(host), ips, "{host}"),
            (Err(e), Err(start)) => {
                assert!(e.starts_with(start), "{host} {ips:?}: {e}");
                assert_eq!(w, before, "a refused record changes nothing");
            }
            (got, _) => panic!("{host} {ips:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn records_are_ipv4_addresses_of_valid_host_names() {
        check("chimay.imarc.net", &["198.51.100.7"], Ok(()));
        check("chimay.imarc.net", &["198.51.100.7", "203.0.113.9"], Ok(()));
        check("duvel.imarc.net", &[], Ok(()));
        check("localhost", &["127.0.0.1"], Ok(()));
        check("a-1.B2.example", &["0.0.0.0"], Ok(()));
        check("chimay.imarc.net", &["not-an-ip"], Err("\"not-an-ip\" is not an IPv4 address"));
        check("chimay.imarc.net", &["198.51.100.7", "2001:db8::1"], Err("\"2001:db8::1\" is not an IPv4 address"));
        check("chimay.imarc.net", &["198.51.100.256"], Err("\"198.51.100.256\" is not an IPv4 address"));
        check("chimay.imarc.net", &["198.51.100"], Err("\"198.51.100\" is not an IPv4 address"));
        check("chimay.imarc.net", &["198.051.100.7"], Err("\"198.051.100.7\" is not an IPv4 address"));
        check("chimay.imarc.net", &[" 198.51.100.7"], Err("\" 198.51.100.7\" is not an IPv4 address"));
        check("chimay.imarc.net", &["198.51.100.7", "198.51.100.7"], Err("198.51.100.7 is given twice"));
        check("", &["198.51.100.7"], Err("\"\" is not a valid DNS host name: it is empty"));
        check(
            "chimay.imarc.net.",
            &["198.51.100.7"],
            Err("\"chimay.imarc.net.\" is not a valid DNS host name: it ends"),
        );
        check(
            "chimay..net",
            &["198.51.100.7"],
            Err("\"chimay..net\" is not a valid DNS host name: label \"\" is empty"),
        );
        check(
            "-chimay.net",
            &["198.51.100.7"],
            Err("\"-chimay.net\" is not a valid DNS host name: label \"-chimay\" starts"),
        );
        check(
            "chi_may.net",
            &["198.51.100.7"],
            Err("\"chi_may.net\" is not a valid DNS host name: label \"chi_may\" contains"),
        );
        check("../etc/passwd", &[], Err("\"../etc/passwd\" is not a valid DNS host name"));
        check(&"a".repeat(64), &["198.51.100.7"], Err("\"aaaa"));
        check(&["abc"; 64].join("."), &["198.51.100.7"], Err("\"abc.abc"));
    }

    #[test]
    fn a_state_file_record_is_checked_the_same_way() {
        assert_eq!(check_record("x.net", &["198.51.100.7".to_string()]), Ok(()));
        assert!(check_record("x.net", &[]).unwrap_err().contains("no address"));
        assert!(check_record("x.net", &["nope".to_string()]).is_err());
    }
}
