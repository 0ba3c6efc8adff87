//! `SlurmExecutor` through the engine's `Executor` / `RunningAttempt` contract, against a
//! real cluster: start → wait gives the command's exit status and usage; terminate signals
//! the running command (its own grace); kill and dropping the executor leave no job behind.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::slurm_cluster::Cluster;
use secflow::engine::{AttemptSpec, Executor};
use secflow::plan::SlurmOptions;
use secflow::slurm::executor::{SlurmExecutor, SlurmExecutorConfig};
use secflow::slurm::{Client, ClientEnv, PollerConfig, Tools};

const EXE: &str = env!("CARGO_BIN_EXE_secflow");

static LOCK: Mutex<()> = Mutex::new(());

fn with_cluster(test: impl AsyncFnOnce(&Cluster)) {
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(test(&cluster));
}

fn executor(c: &Cluster, node_options: HashMap<String, SlurmOptions>) -> SlurmExecutor {
    SlurmExecutor::new(SlurmExecutorConfig {
        client: Client {
            tools: Tools::default(),
            env: ClientEnv::curate(c.client_env()),
            command_timeout: Duration::from_secs(25),
        },
        wrapper_exe: PathBuf::from(EXE),
        poller: PollerConfig {
            interval: Duration::from_millis(200),
            ..PollerConfig::default()
        },
        node_options,
        comment: Some("secflow run test".into()),
    })
}

fn spec(c: &Cluster, node: &str, script: &str) -> AttemptSpec {
    let dir = c.work_dir().join("runs/R/nodes").join(node).join("1");
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    AttemptSpec {
        node_id: node.into(),
        attempt: 1,
        argv: vec!["sh".into(), "-c".into(), script.into()],
        env: vec![(OsString::from("PATH"), path)],
        cwd: c.work_dir(),
        stdout_path: dir.join("stdout.log"),
        stderr_path: dir.join("stderr.log"),
        secrets: Arc::from(Vec::new()),
        records: None,
        grace: std::time::Duration::from_secs(5),
    }
}

#[test]
fn start_and_wait_report_the_commands_status_and_usage() {
    with_cluster(async |c| {
        let ex = executor(c, HashMap::new());
        assert_eq!(ex.name(), "slurm");
        let mut ok = ex.start(spec(c, "ok", "echo hi")).await.expect("start");
        let mut bad = ex.start(spec(c, "bad", "exit 3")).await.expect("start");
        assert!(ok.job_id().is_some() && ok.pid().is_none());
        let info = ok.wait().await.expect("wait");
        assert_eq!((info.exit_code, info.signal), (Some(0), None));
        assert!(info.peak_rss_bytes.is_some_and(|b| b > 0), "{info:?}");
        // Waiting again gives the same answer.
        assert_eq!(ok.wait().await.expect("again"), info);
        let info = bad.wait().await.expect("wait");
        assert_eq!(info.exit_code, Some(3));
        let out = c.work_dir().join("runs/R/nodes/ok/1/stdout.log");
        assert_eq!(std::fs::read_to_string(out).unwrap(), "hi\n");

        // Declared secrets are masked in what the job wrote, once it ended.
        let mut s = spec(c, "sec", "echo token=hunter2; echo hunter2 >&2");
        s.secrets = Arc::from(vec![b"hunter2".to_vec()]);
        let mut sec = ex.start(s).await.expect("start");
        assert_eq!(sec.wait().await.expect("wait").exit_code, Some(0));
        let dir = c.work_dir().join("runs/R/nodes/sec/1");
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        assert_eq!(read("stdout.log"), "token=[REDACTED]\n");
        assert_eq!(read("stderr.log"), "[REDACTED]\n");
    });
}

#[test]
fn terminate_signals_the_running_command_and_kill_leaves_no_job() {
    with_cluster(async |c| {
        // Each job takes both CPUs: one runs, the others wait in the queue.
        let two_cpus = SlurmOptions {
            cpus: Some(2),
            ..SlurmOptions::default()
        };
        let options = ["t", "k1", "k2"]
            .into_iter()
            .map(|n| (n.to_string(), two_cpus.clone()))
            .collect();
        let ex = executor(c, options);
        let trap = "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done";
        let mut t = ex.start(spec(c, "t", trap)).await.expect("start");
        let stdout = c.work_dir().join("runs/R/nodes/t/1/stdout.log");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(&stdout)
            .unwrap_or_default()
            .contains("ready")
        {
            assert!(Instant::now() < deadline, "never ran:\n{}", c.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut k1 = ex.start(spec(c, "k1", "sleep 300")).await.expect("start");
        let mut k2 = ex.start(spec(c, "k2", "sleep 300")).await.expect("start");
        t.terminate();
        let info = tokio::time::timeout(Duration::from_secs(20), t.wait())
            .await
            .expect("terminated in time")
            .expect("wait");
        assert_eq!(info.exit_code, Some(7), "{info:?}");
        assert!(
            std::fs::read_to_string(&stdout)
                .unwrap()
                .contains("got-term")
        );

        // k1 may be running by now and k2 still pending: kill takes both.
        k1.kill();
        k2.kill();
        for a in [&mut k1, &mut k2] {
            let info = tokio::time::timeout(Duration::from_secs(20), a.wait())
                .await
                .expect("killed in time")
                .expect("wait");
            assert!(info.signal.is_some(), "{info:?}");
            let id = a.job_id().unwrap();
            assert_eq!(c.job_state(&id).as_deref(), Some("CANCELLED"));
        }
        assert!(c.active_jobs().is_empty(), "{:?}", c.active_jobs());
    });
}

#[test]
fn dropping_the_executor_cancels_its_jobs() {
    with_cluster(async |c| {
        let ex = executor(c, HashMap::new());
        let a = ex.start(spec(c, "a", "sleep 300")).await.expect("start");
        let id = a.job_id().unwrap();
        drop(a);
        drop(ex);
        let deadline = Instant::now() + Duration::from_secs(15);
        while c.active_jobs().contains(&id) {
            assert!(Instant::now() < deadline, "job {id} survived the executor");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}
