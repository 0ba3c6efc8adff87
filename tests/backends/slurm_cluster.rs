//! A throwaway single-node Slurm cluster for tests (../shared/SLURM.md): a private munged
//! (own key and socket, `AuthInfo=socket=…`), slurmctld and slurmd on free loopback ports,
//! all state, logs and config in a temporary directory. `start` waits until the node is
//! `idle`; dropping the cluster cancels its jobs and stops every daemon by PID.
//!
//! The daemons run in the foreground as children of the test process, so they are reaped
//! and never outlive a test. Needs root (SlurmUser=root) and the Debian packages
//! (`.ci/install-slurm.sh`). When Slurm is missing, [`Cluster::start`] returns None, except
//! with `CI` set, where it panics: CI never silently skips these tests.
#![allow(unsafe_code)] // libc::kill and a counting allocator in tests

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    pub conf: PathBuf,
    daemons: Vec<(&'static str, Child)>,
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
        || Path::new("/usr/sbin").join(program).is_file()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// The node's resources as `slurmd -C` reports them (CPUs and memory only).
fn node_resources() -> (u32, u64) {
    let out = Command::new("slurmd").arg("-C").output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.parse::<u64>().ok())
    };
    (
        field("CPUs=").unwrap_or(2) as u32,
        field("RealMemory=").unwrap_or(2048),
    )
}

impl Cluster {
    /// Starts a cluster, or returns None when Slurm is not installed (panics under CI).
    pub fn start() -> Option<Cluster> {
        let missing: Vec<&str> = ["munged", "slurmctld", "slurmd", "sbatch", "squeue"]
            .into_iter()
            .filter(|p| !which(p))
            .collect();
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if !missing.is_empty() || !root {
            let why = if root {
                format!("Slurm is not installed (missing {missing:?}); run .ci/install-slurm.sh")
            } else {
                "Slurm tests need root (SlurmUser=root)".to_string()
            };
            if std::env::var_os("CI").is_some() {
                panic!("{why}");
            }
            eprintln!("skipping: {why}");
            return None;
        }
        Some(Cluster::start_installed())
    }

    fn start_installed() -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_path_buf();
        use std::os::unix::fs::PermissionsExt;
        // munged wants its socket directory (and its parents) traversable by everyone.
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["munge", "key", "state", "spool", "log", "work"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::set_permissions(d.join("munge"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(d.join("key"), std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut key = [0u8; 128];
        {
            use std::io::Read;
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut key))
                .expect("read /dev/urandom");
        }
        let key_path = d.join("key/munge.key");
        std::fs::write(&key_path, key).unwrap();
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let socket = d.join("munge/munge.socket");

        let ctld_port = free_port();
        let slurmd_port = free_port();
        let (cpus, mem) = node_resources();
        let conf = d.join("slurm.conf");
        let p = |s: &str| d.join(s).display().to_string();
        let text = format!(
            "ClusterName=ci\n\
             SlurmctldHost=localhost(127.0.0.1)\n\
             SlurmctldPort={ctld_port}\n\
             SlurmdPort={slurmd_port}\n\
             SlurmUser=root\n\
             SlurmdUser=root\n\
             AuthType=auth/munge\n\
             CredType=cred/munge\n\
             AuthInfo=socket={socket}\n\
             StateSaveLocation={state}\n\
             SlurmdSpoolDir={spool}\n\
             SlurmctldPidFile={ctld_pid}\n\
             SlurmdPidFile={d_pid}\n\
             SlurmctldLogFile={ctld_log}\n\
             SlurmdLogFile={d_log}\n\
             SlurmctldDebug=info\n\
             SlurmdDebug=info\n\
             ProctrackType=proctrack/linuxproc\n\
             TaskPlugin=task/none\n\
             SelectType=select/cons_tres\n\
             SelectTypeParameters=CR_Core_Memory\n\
             DefMemPerCPU=1024\n\
             SchedulerType=sched/backfill\n\
             SchedulerParameters=batch_sched_delay=0,bf_interval=1\n\
             MpiDefault=none\n\
             MailProg=/bin/true\n\
             ReturnToService=2\n\
             JobAcctGatherType=jobacct_gather/linux\n\
             JobAcctGatherFrequency=task=1\n\
             AccountingStorageType=accounting_storage/none\n\
             JobCompType=jobcomp/filetxt\n\
             JobCompLoc={jobcomp}\n\
             MinJobAge=300\n\
             KillWait=5\n\
             OverTimeLimit=0\n\
             EnforcePartLimits=ALL\n\
             NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem} State=UNKNOWN\n\
             PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP\n",
            socket = socket.display(),
            state = p("state"),
            spool = p("spool"),
            ctld_pid = p("slurmctld.pid"),
            d_pid = p("slurmd.pid"),
            ctld_log = p("log/slurmctld.log"),
            d_log = p("log/slurmd.log"),
            jobcomp = p("log/jobcomp.log"),
        );
        std::fs::write(&conf, text).unwrap();

        let mut cluster = Cluster {
            dir,
            conf: conf.clone(),
            daemons: Vec::new(),
        };
        let log = |name: &str| std::fs::File::create(d.join("log").join(name)).unwrap();
        let spawn = |cmd: &mut Command, name: &str| {
            cmd.env("SLURM_CONF", &conf)
                .stdin(Stdio::null())
                .stdout(log(&format!("{name}.out")))
                .stderr(log(&format!("{name}.out")))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {name}: {e}"))
        };
        let munged = spawn(
            Command::new("munged")
                .arg("-F")
                .arg(format!("--socket={}", socket.display()))
                .arg(format!("--key-file={}", key_path.display()))
                .arg(format!("--pid-file={}", p("munge/munged.pid")))
                .arg(format!("--log-file={}", p("log/munged.log")))
                .arg(format!("--seed-file={}", p("key/munged.seed"))),
            "munged",
        );
        cluster.daemons.push(("munged", munged));
        cluster.wait_for("munge socket", Duration::from_secs(10), |c| {
            c.dir.path().join("munge/munge.socket").exists()
        });
        let ctld = spawn(
            Command::new("slurmctld").arg("-D").arg("-f").arg(&conf),
            "slurmctld",
        );
        cluster.daemons.push(("slurmctld", ctld));
        let slurmd = spawn(
            Command::new("slurmd")
                .args(["-D", "-N", "localhost", "-f"])
                .arg(&conf),
            "slurmd",
        );
        cluster.daemons.push(("slurmd", slurmd));
        cluster.wait_for("node idle", Duration::from_secs(30), |c| {
            c.client_cmd("sinfo")
                .args(["-h", "-o", "%T"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "idle")
        });
        cluster
    }

    fn wait_for(&mut self, what: &str, limit: Duration, mut ok: impl FnMut(&Cluster) -> bool) {
        let deadline = Instant::now() + limit;
        while !ok(self) {
            let dead = self
                .daemons
                .iter_mut()
                .find_map(|(name, child)| child.try_wait().ok().flatten().map(|s| (*name, s)));
            if let Some((name, status)) = dead {
                panic!(
                    "{name} exited ({status}) while waiting for {what}:\n{}",
                    self.logs()
                );
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The tails of the daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for name in [
            "slurmctld.log",
            "slurmd.log",
            "munged.log",
            "slurmctld.out",
            "slurmd.out",
        ] {
            let text =
                std::fs::read_to_string(self.dir.path().join("log").join(name)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            s.push_str(&format!("--- {name}\n"));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    /// A Slurm client command pointed at this cluster.
    pub fn client_cmd(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", &self.conf);
        cmd
    }

    /// A directory for test files inside the cluster's temporary directory.
    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// The client environment (`SLURM_CONF` set) a secflow Slurm client should use.
    pub fn client_env(&self) -> Vec<(OsString, OsString)> {
        let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(k, _)| k != "SLURM_CONF")
            .collect();
        vars.push(("SLURM_CONF".into(), self.conf.clone().into()));
        vars
    }

    /// `squeue -h -t all -j ID -o %T`, or None when the job is not listed.
    pub fn job_state(&self, job_id: &str) -> Option<String> {
        let out = self
            .client_cmd("squeue")
            .args(["-h", "-t", "all", "-j", job_id, "-o", "%T"])
            .output()
            .ok()?;
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!s.is_empty()).then_some(s)
    }

    /// Ids of the jobs still queued or running (`squeue` without `-t all`).
    pub fn active_jobs(&self) -> Vec<String> {
        let out = self.client_cmd("squeue").args(["-h", "-o", "%i"]).output();
        out.map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // scontrol shutdown leaves running jobs alone: cancel them first.
        let jobs = self.active_jobs();
        if !jobs.is_empty() {
            let _ = self.client_cmd("scancel").args(&jobs).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !self.active_jobs().is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // Stop in reverse order of start, each by its own PID: TERM, then KILL after 5 s.
        for (_, child) in self.daemons.iter_mut().rev() {
            // SAFETY: signalling our own child by PID.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Ok(None) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
    }
}
