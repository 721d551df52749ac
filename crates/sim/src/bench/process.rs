//! Child processes of a benchmark (the hub, the simulator, etcd), stopped when dropped, and
//! free loopback ports for them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// A child process stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Guard {
    child: Child,
    name: &'static str,
}

impl Guard {
    pub fn spawn(name: &'static str, cmd: &mut Command, log: &Path) -> anyhow::Result<Guard> {
        let out = std::fs::File::create(log)?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Guard { child, name })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("{} did not stop on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// `shoal-hub` from `bin_dir` with its data in `hub_dir`, listening on loopback: the API on
/// `api_port`, QUIC on `quic_port`, the embedded MQTT broker on `mqtt_port`; warnings only.
pub fn hub_command(
    bin_dir: &Path,
    hub_dir: &Path,
    api_port: u16,
    quic_port: u16,
    mqtt_port: u16,
) -> Command {
    let mut cmd = Command::new(bin_dir.join("shoal-hub"));
    cmd.arg("--data-dir")
        .arg(hub_dir)
        .arg("--api-addr")
        .arg(format!("127.0.0.1:{api_port}"))
        .arg("--quic-addr")
        .arg(format!("127.0.0.1:{quic_port}"))
        .arg("--mqtt-addr")
        .arg(format!("127.0.0.1:{mqtt_port}"))
        .env("SHOAL_LOG", "warn");
    cmd
}

pub fn free_port(udp: bool) -> anyhow::Result<u16> {
    Ok(if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    })
}
