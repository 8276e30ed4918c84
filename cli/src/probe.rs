//! Real health probes (`health_check` against AWS): an HTTP(S) GET or a TCP connection,
//! from this machine, as an outside monitor would. Each runs on tokio's blocking pool.

use async_trait::async_trait;
use cellar_engine::monitoring::{ProbeOutcome, ProbeRequest, ProbeTarget, Prober};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Probes over the network.
pub struct NetworkProber;

#[async_trait]
impl Prober for NetworkProber {
    async fn probe(&self, request: &ProbeRequest) -> ProbeOutcome {
        let (target, timeout) = (request.target.clone(), request.timeout);
        let outcome = tokio::task::spawn_blocking(move || match target {
            ProbeTarget::Http { url, expect_status } => http(&url, expect_status, timeout),
            ProbeTarget::Tcp { host, port } => tcp(&host, port, timeout),
        })
        .await;
        match outcome {
            Ok(Ok(())) => ProbeOutcome::Up,
            Ok(Err(why)) => ProbeOutcome::Failed(why),
            Err(e) => ProbeOutcome::Failed(format!("the probe did not finish: {e}")),
        }
    }
}

/// A GET answered with `expect_status` (redirects are answers, not followed).
pub fn http(url: &str, expect_status: u16, timeout: Duration) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let response =
        agent.get(url).header("user-agent", concat!("cellar-watch/", env!("CARGO_PKG_VERSION"))).call().map_err(
            |e| match e {
                ureq::Error::Timeout(_) => format!("timed out after {}s", timeout.as_secs()),
                e => e.to_string(),
            },
        )?;
    let status = response.status().as_u16();
    match status == expect_status {
        true => Ok(()),
        false => Err(format!("HTTP {status}, expected {expect_status}")),
    }
}

/// A TCP connection to `host:port` within `timeout` (to the first address that takes it).
pub fn tcp(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    let addresses: Vec<_> =
        (host, port).to_socket_addrs().map_err(|e| format!("cannot resolve {host}: {e}"))?.collect();
    let mut last = format!("{host} has no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = format!("connection to {address} timed out after {}s", timeout.as_secs())
            }
            Err(e) => last = format!("connection to {address}: {e}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A server on 127.0.0.1 answering every request with `status`.
    fn serve(status: u16) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = write!(stream, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
        port
    }

    #[test]
    fn http_and_tcp_probes() {
        let ok = serve(200);
        let unavailable = serve(503);
        let t = Duration::from_secs(2);
        assert_eq!(http(&format!("http://127.0.0.1:{ok}/health"), 200, t), Ok(()));
        assert_eq!(http(&format!("http://127.0.0.1:{unavailable}/"), 200, t), Err("HTTP 503, expected 200".into()));
        assert_eq!(http(&format!("http://127.0.0.1:{unavailable}/"), 503, t), Ok(()));
        assert_eq!(tcp("127.0.0.1", ok, t), Ok(()));
        // A port nobody listens on: refused.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let refused = tcp("127.0.0.1", closed, t).unwrap_err();
        assert!(refused.starts_with(&format!("connection to 127.0.0.1:{closed}:")), "{refused}");
        assert!(http(&format!("http://127.0.0.1:{closed}/"), 200, t).is_err());
    }
}
