//! Redis and MariaDB servers of a test's own, on free ports with temporary
//! data directories, that the test can stop and start again on the same
//! port. When the server binaries are not installed, `start` answers `None`
//! and the test says it was skipped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::unique_name;

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn find(binary: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join(binary))
        .find(|path| path.exists())
}

pub fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} did not come up within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn accepts(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Sends `signal` (`STOP`, `CONT`) to the server: a stopped server keeps its
/// port open and answers nothing, as a hung one does.
fn signal(child: &Option<Child>, signal: &str) {
    let child = child.as_ref().expect("the server runs");
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal}");
}

fn stop_child(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A test whose server binary is missing says so and passes, except in CI
/// (`CI` set), where every test must run. The notice goes straight to the
/// terminal's stderr: the test harness captures `eprintln!`, and a skip
/// must not look like a pass.
pub fn skip(what: &str) {
    use std::io::Write;
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is not installed, and CI must run every test"
    );
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED: {} ({what} is not installed on this machine)",
        std::thread::current().name().unwrap_or("a test")
    );
}

pub struct OwnRedis {
    pub port: u16,
    /// Set: the server runs with `--requirepass`.
    password: Option<String>,
    binary: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnRedis {
    pub fn start() -> Option<OwnRedis> {
        Self::start_with(None)
    }

    /// A server that refuses clients without `password`.
    pub fn start_with_password(password: &str) -> Option<OwnRedis> {
        Self::start_with(Some(password.to_owned()))
    }

    fn start_with(password: Option<String>) -> Option<OwnRedis> {
        let binary = find("redis-server")?;
        let dir = std::env::temp_dir().join(unique_name("redis"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = OwnRedis {
            port: free_port(),
            password,
            binary,
            dir,
            child: None,
        };
        redis.resume();
        Some(redis)
    }

    /// Freezes the server (SIGSTOP): it hangs with its port open.
    pub fn freeze(&self) {
        signal(&self.child, "STOP");
    }

    pub fn thaw(&self) {
        signal(&self.child, "CONT");
    }

    /// Kills the server (as a crash would).
    pub fn stop(&mut self) {
        stop_child(&mut self.child);
        wait_until("redis shutdown", Duration::from_secs(10), || {
            !accepts(self.port)
        });
    }

    /// Starts it again on the same port (empty: it keeps nothing on disk).
    pub fn resume(&mut self) {
        let mut command = Command::new(&self.binary);
        if let Some(password) = &self.password {
            command.arg("--requirepass").arg(password);
        }
        let child = command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        wait_until("redis", Duration::from_secs(10), || accepts(self.port));
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        stop_child(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct OwnMariadb {
    pub port: u16,
    server: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

impl OwnMariadb {
    /// A fresh server; root without a password (grant tables skipped: it is
    /// a throw-away instance on loopback).
    pub fn start() -> Option<OwnMariadb> {
        let server = find("mariadbd").or_else(|| find("mysqld"))?;
        let install = find("mariadb-install-db").or_else(|| find("mysql_install_db"))?;
        let dir = std::env::temp_dir().join(unique_name("mariadb"));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let as_root = running_as_root();
        if as_root {
            // mariadbd refuses to run as root: it runs as `mysql`, which must
            // own its directory.
            let status = Command::new("chown")
                .args(["-R", "mysql:mysql"])
                .arg(&dir)
                .status();
            assert!(
                status.is_ok_and(|status| status.success()),
                "chown to mysql"
            );
        }
        let install_once = || {
            let mut command = Command::new(&install);
            command
                .arg("--no-defaults")
                .arg(format!("--datadir={}", dir.join("data").display()))
                .arg("--auth-root-authentication-method=normal")
                .stdin(Stdio::null());
            if as_root {
                command.arg("--user=mysql");
            }
            command.output().expect("mariadb-install-db runs")
        };
        // Its bootstrap now and then fails when other servers start at the
        // same moment on two busy cores: a fresh data directory, once more.
        let mut installed = install_once();
        for _ in 0..2 {
            if installed.status.success() {
                break;
            }
            let data = dir.join("data");
            let _ = std::fs::remove_dir_all(&data);
            std::fs::create_dir_all(&data).unwrap();
            if as_root {
                let _ = Command::new("chown")
                    .args(["-R", "mysql:mysql"])
                    .arg(&dir)
                    .status();
            }
            installed = install_once();
        }
        assert!(
            installed.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&installed.stdout),
            String::from_utf8_lossy(&installed.stderr)
        );
        let mut mariadb = OwnMariadb {
            port: free_port(),
            server,
            dir,
            child: None,
        };
        mariadb.resume();
        Some(mariadb)
    }

    /// Freezes the server (SIGSTOP): it hangs with its port open.
    pub fn freeze(&self) {
        signal(&self.child, "STOP");
    }

    pub fn thaw(&self) {
        signal(&self.child, "CONT");
    }

    pub fn stop(&mut self) {
        stop_child(&mut self.child);
        wait_until("mariadb shutdown", Duration::from_secs(20), || {
            !accepts(self.port)
        });
    }

    pub fn resume(&mut self) {
        let mut command = Command::new(&self.server);
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!(
                "--socket={}",
                self.dir.join("mysqld.sock").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.join("mysqld.pid").display()
            ))
            .arg(format!("--port={}", self.port))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-grant-tables",
                "--skip-networking=0",
            ])
            .args([
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
                "--max-connections=200",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if running_as_root() {
            command.arg("--user=mysql");
        }
        self.child = Some(command.spawn().expect("mariadbd starts"));
        wait_until("mariadb", Duration::from_secs(60), || accepts(self.port));
    }
}

impl Drop for OwnMariadb {
    fn drop(&mut self) {
        stop_child(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
