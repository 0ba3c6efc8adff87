//! The Slurm module against a real single-node cluster started per test (see
//! tests/backends/slurm_cluster.rs). munged's key, the ports and the daemons are per cluster,
//! but the tests still run one at a time (a global lock): the machine has few CPUs and the
//! timings below assume an idle node.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::slurm_cluster::Cluster;
use secflow::plan::FailureKind;
use secflow::slurm::{
    Client, ClientEnv, JobSpec, JobState, Poller, PollerConfig, SlurmError, SubmittedJob, Tools,
    cancel_all, cancel_job, submit,
};
use secflow::store::NodeStatus;

const EXE: &str = env!("CARGO_BIN_EXE_secflow");
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

static LOCK: Mutex<()> = Mutex::new(());

/// Runs `test` against a fresh cluster, one test at a time, on a tokio runtime that is shut
/// down before the cluster stops.
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

fn client(c: &Cluster) -> Client {
    Client {
        tools: Tools::default(),
        env: ClientEnv::curate(c.client_env()),
        command_timeout: Duration::from_secs(25),
    }
}

fn fast_poller(client: Client) -> Poller {
    Poller::start(
        client,
        PollerConfig {
            interval: Duration::from_millis(200),
            ..PollerConfig::default()
        },
    )
}

fn spec(c: &Cluster, name: &str, script: &str) -> JobSpec {
    let attempt_dir = c.work_dir().join("runs/R/nodes").join(name).join("1");
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    let env: Vec<(OsString, OsString)> = vec![
        ("PATH".into(), path),
        ("TRACEPARENT".into(), TRACEPARENT.into()),
        ("SECFLOW_NODE_ID".into(), name.into()),
        ("SCAN_TOKEN".into(), "hunter2-secret".into()),
    ];
    JobSpec {
        name: name.to_string(),
        argv: vec!["sh".into(), "-c".into(), script.into()],
        env,
        cwd: c.work_dir(),
        stdout_path: attempt_dir.join("stdout.log"),
        stderr_path: attempt_dir.join("stderr.log"),
        attempt_dir,
        options: Default::default(),
        comment: Some("secflow test".into()),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits (bounded) until `squeue` reports `state` for the job.
fn wait_state(c: &Cluster, job_id: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.job_state(job_id).as_deref() != Some(state) {
        assert!(
            Instant::now() < deadline,
            "job {job_id} never {state}:\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_job_completes_with_its_usage_file_and_environment() {
    with_cluster(async |c| {
        let client = client(c);
        let poller = fast_poller(client.clone());
        let s = spec(
            c,
            "scan",
            "echo \"tp=$TRACEPARENT node=$SECFLOW_NODE_ID job=$SLURM_JOB_ID\"; pwd; \
             head -c 30000000 /dev/zero | sort >/dev/null; echo to-stderr >&2",
        );
        let job = submit(&client, Path::new(EXE), &s).await.expect("submit");
        assert!(job.job_id.parse::<u64>().is_ok(), "{}", job.job_id);
        let mut watch = poller.watch(job.clone());
        let r = tokio::time::timeout(Duration::from_secs(60), watch.wait())
            .await
            .expect("job did not finish in 60 s")
            .expect("watch");
        assert_eq!(r.state, JobState::Completed, "{}", c.logs());
        assert_eq!(r.outcome.status, NodeStatus::Succeeded);
        assert_eq!(r.outcome.exit_code, Some(0));
        let usage = r.usage.as_ref().expect("usage file written by the wrapper");
        assert_eq!(usage.exit_code, Some(0));
        assert_eq!(usage.job_id.as_deref(), Some(job.job_id.as_str()));
        assert!(usage.wall_ms > 0 && usage.wall_ms < 60_000, "{usage:?}");
        // sort held 30 MB: the peak RSS of the reaped descendants shows it.
        assert!(usage.peak_rss_bytes > 20_000_000, "{usage:?}");
        assert!(usage.cpu_user_ms + usage.cpu_system_ms > 0, "{usage:?}");
        assert!(r.queue_wait < Duration::from_secs(30), "{:?}", r.queue_wait);
        assert!(
            r.started_at
                .is_some_and(|t| t >= job.submitted_at - Duration::from_secs(1))
        );

        let out = read(&s.stdout_path);
        assert!(
            out.contains(&format!("tp={TRACEPARENT} node=scan job={}", job.job_id)),
            "{out}"
        );
        assert!(out.contains(&c.work_dir().display().to_string()), "{out}");
        assert_eq!(read(&s.stderr_path).trim(), "to-stderr");
        // The environment file held a secret: it is gone, and Slurm never saw the value.
        assert!(!job.env_path.exists());
        let script = read(&s.attempt_dir.join("job.sh"));
        assert!(script.contains("job-wrapper") && !script.contains("hunter2"));
        assert!(poller.job_ids().is_empty());
    });
}

#[test]
fn a_job_exiting_3_fails_with_exit_code_3() {
    with_cluster(async |c| {
        let client = client(c);
        let poller = fast_poller(client.clone());
        let s = spec(c, "broken", "echo oops >&2; exit 3");
        let job = submit(&client, Path::new(EXE), &s).await.expect("submit");
        let r = tokio::time::timeout(Duration::from_secs(60), poller.watch(job).wait())
            .await
            .expect("finished")
            .expect("watch");
        assert_eq!(r.state, JobState::Failed);
        assert_eq!(r.outcome.status, NodeStatus::Failed);
        assert_eq!(r.outcome.exit_code, Some(3));
        assert_eq!(r.outcome.failure, Some(FailureKind::Exit(3)));
        assert!(!r.outcome.cluster_fault);
        assert_eq!(r.outcome.reason.as_deref(), Some("exit code 3"));
        assert_eq!(read(&s.stderr_path).trim(), "oops");
    });
}

#[test]
fn scancel_cancels_one_job_and_all_of_a_runs_jobs() {
    with_cluster(async |c| {
        let client = client(c);
        let poller = fast_poller(client.clone());

        let one = submit(&client, Path::new(EXE), &spec(c, "long", "sleep 300"))
            .await
            .expect("submit");
        let mut watch = poller.watch(one.clone());
        wait_state(c, &one.job_id, "RUNNING");
        let t = Instant::now();
        cancel_job(&client, &one.job_id).await.expect("scancel");
        let r = tokio::time::timeout(Duration::from_secs(30), watch.wait())
            .await
            .expect("cancelled in time")
            .expect("watch");
        assert_eq!(r.state, JobState::Cancelled);
        assert_eq!(r.outcome.status, NodeStatus::Cancelled);
        assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
        assert!(!c.active_jobs().contains(&one.job_id));

        // Three more: two run (2 CPUs), one waits. One call cancels them all, pending included.
        let mut watches = Vec::new();
        let mut ids = Vec::new();
        for i in 0..3 {
            let job = submit(
                &client,
                Path::new(EXE),
                &spec(c, &format!("n{i}"), "sleep 300"),
            )
            .await
            .expect("submit");
            ids.push(job.job_id.clone());
            watches.push(poller.watch(job));
        }
        wait_state(c, &ids[0], "RUNNING");
        assert_eq!(poller.job_ids().len(), 3);
        poller.cancel_all().await.expect("cancel all");
        for mut w in watches {
            let r = tokio::time::timeout(Duration::from_secs(30), w.wait())
                .await
                .expect("cancelled in time")
                .expect("watch");
            assert_eq!(r.outcome.status, NodeStatus::Cancelled, "{r:?}");
        }
        assert!(c.active_jobs().is_empty(), "{:?}", c.active_jobs());
        // Cancelling jobs that already ended is not an error.
        cancel_all(&client, &ids).await.expect("idempotent");
    });
}

/// A directory of scripts first on PATH that log each call's arguments, then run `real`
/// (or, with `real` None, print nothing: a controller that forgot every job).
fn counting_tools(dir: &Path, tools: &[(&str, Option<&str>)]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    for (name, real) in tools {
        let log = dir.join(format!("{name}.calls"));
        let tail = match real {
            Some(real) => format!("exec {real} \"$@\""),
            None => "exit 0".to_string(),
        };
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho \"$*\" >> '{}'\n{tail}\n", log.display()),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn calls(dir: &Path, name: &str) -> Vec<String> {
    read(&dir.join(format!("{name}.calls")))
        .lines()
        .map(str::to_string)
        .collect()
}

fn real(program: &str) -> String {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| panic!("{program} not found"))
}

fn client_with_path_first(c: &Cluster, bin: &Path) -> Client {
    let mut client = client(c);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    client.env.set("PATH", path);
    client
}

#[test]
fn polling_is_one_squeue_call_per_interval_for_all_jobs() {
    with_cluster(async |c| {
        let bin = c.work_dir().join("bin");
        let (squeue, scontrol, sacct) = (real("squeue"), real("scontrol"), real("sacct"));
        counting_tools(
            &bin,
            &[
                ("squeue", Some(&squeue)),
                ("scontrol", Some(&scontrol)),
                ("sacct", Some(&sacct)),
            ],
        );
        let client = client_with_path_first(c, &bin);
        let interval = Duration::from_millis(250);
        let poller = Poller::start(
            client.clone(),
            PollerConfig {
                interval,
                ..PollerConfig::default()
            },
        );
        let n = 6;
        let mut watches = Vec::new();
        let mut ids = Vec::new();
        for i in 0..n {
            let job = submit(
                &client,
                Path::new(EXE),
                &spec(c, &format!("j{i}"), "sleep 1"),
            )
            .await
            .expect("submit");
            ids.push(job.job_id.clone());
            watches.push(poller.watch(job));
        }
        let t = Instant::now();
        for mut w in watches {
            let r = tokio::time::timeout(Duration::from_secs(90), w.wait())
                .await
                .expect("finished")
                .expect("watch");
            assert_eq!(r.outcome.status, NodeStatus::Succeeded);
        }
        let elapsed = t.elapsed();
        let squeue_calls = calls(&bin, "squeue");
        // At most one call per interval (plus the first, plus slack for slow calls) — not one
        // per job per interval, which would be about 6 × as many.
        let budget = (elapsed.as_millis() / interval.as_millis()) as usize + 2;
        assert!(
            !squeue_calls.is_empty() && squeue_calls.len() <= budget,
            "{} squeue calls in {elapsed:?}",
            squeue_calls.len()
        );
        // Once all are submitted, one call names every job at once.
        let all = ids.join(",");
        assert!(
            squeue_calls.iter().any(|a| a.contains(&all)),
            "no call names all of {all}: {squeue_calls:?}"
        );
        // Every job succeeded with a usage file: no per-job scontrol, no sacct fallback.
        assert!(calls(&bin, "scontrol").is_empty());
        assert!(calls(&bin, "sacct").is_empty());
        eprintln!(
            "{n} jobs: {} squeue calls in {elapsed:?}",
            squeue_calls.len()
        );
    });
}

#[test]
fn a_job_squeue_forgot_is_found_with_sacct_c() {
    with_cluster(async |c| {
        let bin = c.work_dir().join("bin");
        let sacct = real("sacct");
        counting_tools(&bin, &[("squeue", None), ("sacct", Some(&sacct))]);
        let client = client_with_path_first(c, &bin);
        let poller = fast_poller(client.clone());
        let s = spec(c, "purged", "exit 4");
        let job = submit(&client, Path::new(EXE), &s).await.expect("submit");
        let r = tokio::time::timeout(Duration::from_secs(60), poller.watch(job).wait())
            .await
            .expect("finished")
            .expect("watch");
        assert_eq!(r.state, JobState::Failed);
        assert_eq!(r.outcome.exit_code, Some(4));
        let sacct_calls = calls(&bin, "sacct");
        assert!(
            sacct_calls.iter().all(|a| a.starts_with("-c ")),
            "{sacct_calls:?}"
        );
    });
}

#[test]
fn a_rejected_submission_and_an_unreachable_controller_are_clear_errors() {
    with_cluster(async |c| {
        // More CPUs than the node has: sbatch refuses (EnforcePartLimits=ALL).
        let mut greedy = spec(c, "greedy", "true");
        greedy.options.cpus = Some(512);
        let err = submit(&client(c), Path::new(EXE), &greedy)
            .await
            .expect_err("rejected");
        assert!(matches!(err, SlurmError::Rejected { .. }), "{err}");
        assert!(err.to_string().contains("processors"), "{err}");
        assert!(!greedy.attempt_dir.join("job.env").exists());

        // The same cluster, but a controller port nobody listens on.
        let dead = c.work_dir().join("dead.conf");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let text: String = read(&c.conf)
            .lines()
            .map(|l| match l.starts_with("SlurmctldPort=") {
                true => format!("SlurmctldPort={port}\n"),
                false => format!("{l}\n"),
            })
            .collect();
        std::fs::write(&dead, text).unwrap();
        let mut client = client(c);
        client.env.set("SLURM_CONF", &dead);
        client.command_timeout = Duration::from_secs(3);

        let t = Instant::now();
        let err = submit(&client, Path::new(EXE), &spec(c, "x", "true"))
            .await
            .expect_err("no controller");
        assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
        assert!(
            matches!(
                err,
                SlurmError::Timeout { .. } | SlurmError::Unreachable { .. }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("sbatch"), "{err}");

        // A job being watched when the controller goes away fails once the grace is over.
        let poller = Poller::start(
            client,
            PollerConfig {
                interval: Duration::from_millis(100),
                unreachable_grace: Duration::from_secs(1),
                ..PollerConfig::default()
            },
        );
        let attempt_dir = c.work_dir().join("ghost");
        let ghost = SubmittedJob {
            job_id: "999999".into(),
            name: "ghost".into(),
            usage_path: attempt_dir.join("usage.json"),
            env_path: attempt_dir.join("job.env"),
            submitted: Instant::now(),
            submitted_at: SystemTime::now(),
        };
        let t = Instant::now();
        let err = tokio::time::timeout(Duration::from_secs(15), poller.watch(ghost).wait())
            .await
            .expect("gave up in time")
            .expect_err("lost");
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert!(err.to_string().contains("squeue"), "{err}");
    });
}

/// `bench/slurm.sh`: N trivial jobs (default 20, `SECFLOW_SLURM_BENCH_N`) submitted at once,
/// time until all completed — by a plain shell loop (`sbatch --wrap true`, `squeue`
/// polling every 250 ms) and through this module (job script, env file, wrapper, usage
/// file, batched poller at 250 ms), alternating, 3 rounds each; medians printed. The
/// difference is secflow's per-job overhead over sbatch + polling alone.
#[test]
#[ignore = "benchmark: run through bench/slurm.sh"]
fn bench_trivial_jobs() {
    let n: usize = std::env::var("SECFLOW_SLURM_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let rounds = 3;
    with_cluster(async |c| {
        let client = client(c);
        let poller = Poller::start(
            client.clone(),
            PollerConfig {
                interval: Duration::from_millis(250),
                ..PollerConfig::default()
            },
        );
        let (mut plain, mut ours, mut submits, mut waits) = (vec![], vec![], vec![], vec![]);
        for round in 0..rounds {
            plain.push(plain_round(c, n));
            let t = Instant::now();
            let mut watches = Vec::new();
            for i in 0..n {
                let s = spec(c, &format!("b{round}-{i}"), "true");
                let job = submit(&client, Path::new(EXE), &s).await.expect("submit");
                watches.push(poller.watch(job));
            }
            submits.push(t.elapsed());
            let mut queue_wait = Duration::ZERO;
            for mut w in watches {
                let r = w.wait().await.expect("watch");
                assert_eq!(r.outcome.status, NodeStatus::Succeeded);
                queue_wait += r.queue_wait;
            }
            ours.push(t.elapsed());
            waits.push(queue_wait / n as u32);
        }
        let median = |v: &mut Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let (plain, ours) = (median(&mut plain), median(&mut ours));
        let (submit_time, wait) = (median(&mut submits), median(&mut waits));
        let per_job = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
        println!(
            "slurm bench: {n} trivial jobs at once, single node, median of {rounds} rounds\n  \
             plain sbatch loop + squeue polling: {:.2} s ({:.0} ms/job)\n  \
             secflow submit + wrapper + poller:   {:.2} s ({:.0} ms/job; submitting all \
             {:.2} s, mean queue wait {:.0} ms)\n  \
             secflow overhead per job: {:+.0} ms",
            plain.as_secs_f64(),
            per_job(plain),
            ours.as_secs_f64(),
            per_job(ours),
            submit_time.as_secs_f64(),
            wait.as_secs_f64() * 1000.0,
            per_job(ours) - per_job(plain),
        );
    });
}

/// `n` × `sbatch --wrap true` from a shell loop, then `squeue` every 250 ms until none is
/// left; the wall time.
fn plain_round(c: &Cluster, n: usize) -> Duration {
    let shell = format!(
        "export SLURM_CONF='{conf}'; cd '{wd}'; ids=''; \
         for i in $(seq {n}); do ids=\"$ids,$(sbatch --parsable -o /dev/null --wrap true)\"; done; \
         ids=${{ids#,}}; \
         while squeue -h -j \"$ids\" -o %i | grep -q .; do sleep 0.25; done",
        conf = c.conf.display(),
        wd = c.work_dir().display()
    );
    let t = Instant::now();
    let status = std::process::Command::new("sh")
        .args(["-c", &shell])
        .status()
        .unwrap();
    assert!(status.success());
    t.elapsed()
}
