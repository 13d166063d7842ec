//! The distributed batch end to end: the real `voxcap` binary's `enqueue`,
//! `worker` and `results` against a real `redis-server` on loopback
//! (`voxcap_testkit::LocalRedis`), including a worker killed mid-batch.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use voxcap_dsp::synth;
use voxcap_testkit::{free_port, ChildGuard, LocalRedis};

use crate::harness::{assert_success, json_lines, voxcap, voxcap_cmd};

const RATE: u32 = 8000;
const DIGITS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];

fn redis() -> LocalRedis {
    LocalRedis::start().expect("redis-server must be installed (.ci/run installs it)")
}

fn sync_conn(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap()
}

fn hlen(con: &mut redis::Connection, key: &str) -> u64 {
    redis::cmd("HLEN").arg(key).query(con).unwrap()
}

/// Pending entries of the consumer whose name holds `-<pid>-`.
fn pending_of_pid(con: &mut redis::Connection, stream: &str, pid: u32) -> u64 {
    let consumers: Vec<Vec<Value>> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(stream)
        .arg("workers")
        .query::<Vec<redis::Value>>(con)
        .unwrap()
        .into_iter()
        .map(|c| match c {
            redis::Value::Array(kv) => kv.into_iter().map(redis_to_json).collect(),
            redis::Value::Map(kv) => kv
                .into_iter()
                .flat_map(|(k, v)| [redis_to_json(k), redis_to_json(v)])
                .collect(),
            other => panic!("unexpected XINFO reply {other:?}"),
        })
        .collect();
    let tag = format!("-{pid}-");
    for c in consumers {
        let fields: BTreeMap<String, Value> = c
            .chunks_exact(2)
            .map(|kv| {
                (
                    kv[0].as_str().unwrap_or_default().to_string(),
                    kv[1].clone(),
                )
            })
            .collect();
        if fields["name"].as_str().is_some_and(|n| n.contains(&tag)) {
            return fields["pending"].as_u64().unwrap_or(0);
        }
    }
    0
}

fn redis_to_json(v: redis::Value) -> Value {
    match v {
        redis::Value::Int(n) => Value::from(n),
        redis::Value::BulkString(b) => Value::from(String::from_utf8_lossy(&b).into_owned()),
        redis::Value::SimpleString(s) => Value::from(s),
        _ => Value::Null,
    }
}

/// Sends `sig` to `pid` with the shell's builtin `kill` (std has no signal
/// API besides SIGKILL, and minimal images lack procps' /bin/kill).
fn signal(pid: u32, sig: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{sig} {pid}"))
        .status()
        .expect("run sh")
        .success();
    assert!(ok, "kill -{sig} {pid} failed");
}

/// What a generated clip should yield.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// Analysed, with exactly these DTMF digits.
    Digits(String),
    /// An error result.
    Error,
}

/// Writes a clip: a DTMF press in faint noise, plain faint noise, or (one
/// in fifty) a malformed file. Returns what analysing it must give.
fn write_clip(dir: &Path, i: usize) -> (PathBuf, Expect) {
    let path = dir.join(format!("clip{i:05}.wav"));
    let noise =
        |seconds: f64| synth::white_noise(i as u64, -60.0, synth::samples_for(seconds, RATE));
    let (bytes, expect) = match i % 50 {
        7 => (Vec::new(), Expect::Error),
        17 => (
            b"RIFF\x10\x00\x00\x00not a wave file".to_vec(),
            Expect::Error,
        ),
        27 => {
            // A valid header cut off inside the data chunk: truncated.
            let wav = synth::wav_pcm16_mono(&noise(0.5), RATE);
            (wav[..wav.len() / 2].to_vec(), Expect::Error)
        }
        37 => (
            synth::wav_pcm16_mono(&noise(0.5), RATE)[..30].to_vec(),
            Expect::Error,
        ),
        n if n % 2 == 0 => {
            let digit = DIGITS[(i / 2) % DIGITS.len()];
            let mut audio = noise(0.6);
            let tone = synth::dtmf_press(&synth::DtmfPress::new(digit, 0.15), RATE);
            synth::overlay(&mut audio, &tone, synth::samples_for(0.2, RATE));
            (
                synth::wav_pcm16_mono(&audio, RATE),
                Expect::Digits(digit.to_string()),
            )
        }
        _ => (
            synth::wav_pcm16_mono(&noise(0.5), RATE),
            Expect::Digits(String::new()),
        ),
    };
    std::fs::write(&path, bytes).unwrap();
    (path, expect)
}

fn check_result(line: &Value, expect: &Expect) {
    let path = line["path"].as_str().unwrap();
    match expect {
        Expect::Digits(digits) => {
            let report = line
                .get("report")
                .unwrap_or_else(|| panic!("{path}: expected a report, got {line}"));
            let got: String = report["dtmf"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["digit"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(&got, digits, "{path}: DTMF digits");
            assert_eq!(report["file"].as_str(), Some(path));
        }
        Expect::Error => {
            assert!(
                line.get("report").is_none(),
                "{path}: expected an error, got {line}"
            );
            let message = line["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(path),
                "{path}: message {message:?} names the file"
            );
        }
    }
}

/// The acceptance test of issue 9: 2,000 clips over 2 workers, one killed
/// halfway; every clip reported exactly once and correctly.
#[test]
fn two_thousand_clips_over_two_workers_one_killed_halfway_each_reported_once() {
    const CLIPS: usize = 2000;
    let started = Instant::now();
    let server = redis();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&clips).unwrap();
    let expected: BTreeMap<String, Expect> = (0..CLIPS)
        .map(|i| {
            let (p, e) = write_clip(&clips, i);
            (p.to_str().unwrap().to_string(), e)
        })
        .collect();

    let enq = voxcap(&[
        "enqueue",
        "--redis",
        &url,
        "--queue",
        "acc",
        clips.to_str().unwrap(),
    ]);
    assert_success(&enq);
    assert_eq!(
        String::from_utf8_lossy(&enq.stdout).trim(),
        CLIPS.to_string()
    );

    let worker = |log: &str| {
        voxcap_cmd(&[
            "worker",
            "--redis",
            &url,
            "--queue",
            "acc",
            "-j",
            "2",
            "--visibility-timeout",
            "2",
            "--drain",
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join(log)).unwrap())
        .spawn()
        .expect("spawn worker")
    };
    let mut doomed = ChildGuard::new(worker("doomed.log"));
    let mut survivor = ChildGuard::new(worker("survivor.log"));

    // Kill the doomed worker about halfway, while it holds jobs: freeze it,
    // check it owns pending entries (a frozen process cannot ack them), and
    // kill it; otherwise let it run a little and look again.
    let mut con = sync_conn(&url);
    let results_key = "voxcap:{acc}:results";
    let jobs_key = "voxcap:{acc}:jobs";
    let halfway = Instant::now();
    let mut stranded = 0;
    while stranded == 0 {
        assert!(
            halfway.elapsed() < Duration::from_secs(600),
            "the batch made no progress"
        );
        assert!(
            doomed.try_wait().unwrap().is_none(),
            "the doomed worker exited early"
        );
        if hlen(&mut con, results_key) < CLIPS as u64 / 2 {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        signal(doomed.id(), "STOP");
        // What the worker wrote before it froze (a result and its ack, in
        // one MULTI) may still sit in Redis's socket buffer: give Redis time
        // to run it, so that the jobs counted below really are stranded.
        std::thread::sleep(Duration::from_millis(300));
        stranded = pending_of_pid(&mut con, jobs_key, doomed.id());
        if stranded == 0 {
            signal(doomed.id(), "CONT");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    doomed.kill();
    let reported_at_kill = hlen(&mut con, results_key);

    let status = survivor.wait_timeout(Duration::from_secs(600), "the surviving worker");
    let survivor_log = std::fs::read_to_string(dir.path().join("survivor.log")).unwrap();
    assert!(status.success(), "survivor: {status}: {survivor_log}");

    let summary_path = dir.path().join("summary.json");
    let res = voxcap(&[
        "results",
        "--redis",
        &url,
        "--queue",
        "acc",
        "--summary-json",
        summary_path.to_str().unwrap(),
    ]);
    // Malformed clips failed, so exit 1 (not 0, and not 5: nothing missing).
    assert_eq!(
        res.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let lines = json_lines(&res);
    assert_eq!(lines.len(), CLIPS, "one result per clip");
    let paths: Vec<&str> = lines.iter().map(|l| l["path"].as_str().unwrap()).collect();
    let distinct: BTreeSet<&str> = paths.iter().copied().collect();
    assert_eq!(distinct.len(), CLIPS, "no clip reported twice");
    assert!(
        distinct
            .iter()
            .copied()
            .eq(expected.keys().map(String::as_str)),
        "the input set"
    );
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=CLIPS as u64).collect::<Vec<_>>(),
        "enqueue order"
    );
    for line in &lines {
        check_result(line, &expected[line["path"].as_str().unwrap()]);
    }
    let redelivered: Vec<&Value> = lines
        .iter()
        .filter(|l| l["deliveries"].as_u64().unwrap() > 1)
        .collect();
    assert!(
        redelivered.len() as u64 >= stranded,
        "the killed worker's {stranded} stranded job(s) were reclaimed: {} redelivered",
        redelivered.len()
    );
    let failed = expected.values().filter(|e| **e == Expect::Error).count() as u64;
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    assert_eq!(summary["enqueued"], CLIPS as u64);
    assert_eq!(summary["reported"], CLIPS as u64);
    assert_eq!(summary["failed"], failed);
    assert_eq!(summary["ok"], CLIPS as u64 - failed);
    assert_eq!(summary["pending"], 0);

    // Every result also landed as <seq>.json (the killed worker's half-written
    // temp files, if any, are hidden dot files).
    let files: BTreeSet<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    let want: BTreeSet<String> = (1..=CLIPS).map(|s| format!("{s}.json")).collect();
    assert_eq!(files, want);

    eprintln!(
        "2,000-clip batch: {:.1} s wall (incl. generating clips), killed one worker at {reported_at_kill} reported with {stranded} job(s) in flight, {} job(s) redelivered; survivor: {}",
        started.elapsed().as_secs_f64(),
        redelivered.len(),
        survivor_log.lines().last().unwrap_or_default()
    );
}

#[test]
fn unreachable_redis_is_a_clear_error_naming_the_url_without_its_password() {
    let port = free_port(); // nothing listens there
    let url = format!("redis://:s3cret@127.0.0.1:{port}/");
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("a.wav");
    std::fs::write(&clip, synth::wav_pcm16_mono(&synth::silence(800), RATE)).unwrap();
    let commands: [Vec<&str>; 3] = [
        vec!["enqueue", "--redis", &url, clip.to_str().unwrap()],
        vec!["worker", "--redis", &url, "--drain"],
        vec!["results", "--redis", &url, "--wait", "--timeout", "5"],
    ];
    for args in commands {
        let out = voxcap(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail: {stderr}");
        assert!(
            stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("cannot reach Redis"),
            "{args:?}: {stderr}"
        );
        assert!(
            !stderr.contains("s3cret"),
            "{args:?} leaked the password: {stderr}"
        );
    }
    let bad = voxcap(&["results", "--redis", "http//:s3cret@nowhere"]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && stderr.contains("not a usable Redis URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

#[test]
fn bad_and_missing_files_are_error_results_and_the_worker_goes_on() {
    let server = redis();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = write_clip(dir.path(), 0);
    let (bad, _) = write_clip(dir.path(), 17);
    let missing = dir.path().join("missing.wav");
    let enq = voxcap(&[
        "enqueue",
        "--redis",
        &url,
        "--stop-tones",
        "#",
        "--reported",
        "stopToneDetected",
        missing.to_str().unwrap(),
        bad.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_success(&enq);
    let work = voxcap(&["worker", "--redis", &url, "--drain", "-j", "2"]);
    assert_success(&work);
    let res = voxcap(&["results", "--redis", &url]);
    assert_eq!(res.status.code(), Some(1));
    let lines = json_lines(&res);
    let kinds: Vec<Option<&str>> = lines.iter().map(|l| l["error"]["kind"].as_str()).collect();
    assert_eq!(kinds, [Some("io"), Some("not_wav"), None], "{lines:?}");
    check_result(&lines[0], &Expect::Error);
    check_result(&lines[1], &Expect::Error);
    check_result(&lines[2], &Expect::Digits("0".into()));
    // The analysis options travelled with the job.
    assert_eq!(
        lines[2]["report"]["completion"]["reported"].as_str(),
        Some("stopToneDetected"),
        "{}",
        lines[2]
    );
}

#[test]
fn results_of_an_unfinished_queue_exit_5_even_after_waiting() {
    let server = redis();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let (clip, _) = write_clip(dir.path(), 1);
    let enq = voxcap(&[
        "enqueue",
        "--redis",
        &url,
        "--queue",
        "later",
        clip.to_str().unwrap(),
    ]);
    assert!(enq.status.success());
    let res = voxcap(&["results", "--redis", &url, "--queue", "later"]);
    assert_eq!(
        res.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(res.stdout.is_empty());
    assert!(String::from_utf8_lossy(&res.stderr).contains("1 still pending"));
    let waited = voxcap(&[
        "results",
        "--redis",
        &url,
        "--queue",
        "later",
        "--wait",
        "--timeout",
        "0.5",
    ]);
    assert_eq!(waited.status.code(), Some(5));
    // Another queue on the same server is untouched.
    let other = voxcap(&["results", "--redis", &url, "--queue", "empty"]);
    assert_eq!(other.status.code(), Some(0));
}

#[test]
fn a_job_delivered_too_often_is_given_up_and_acknowledged() {
    let server = redis();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let (clip, _) = write_clip(dir.path(), 2);
    assert!(
        voxcap(&["enqueue", "--redis", &url, clip.to_str().unwrap()])
            .status
            .success()
    );
    // A "worker" that takes the job three times and never finishes it, as a
    // file that crashes every worker would.
    let mut con = sync_conn(&url);
    let jobs = "voxcap:{default}:jobs";
    let read: redis::Value = redis::cmd("XREADGROUP")
        .arg(&[
            "GROUP", "workers", "ghost", "COUNT", "1", "STREAMS", jobs, ">",
        ])
        .query(&mut con)
        .unwrap();
    assert!(!matches!(read, redis::Value::Nil));
    let ids: Vec<String> = redis::cmd("XRANGE")
        .arg(jobs)
        .arg("-")
        .arg("+")
        .query::<Vec<(String, Vec<String>)>>(&mut con)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for _ in 0..2 {
        let _: redis::Value = redis::cmd("XCLAIM")
            .arg(&[jobs, "workers", "ghost", "0", &ids[0]])
            .query(&mut con)
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let work = voxcap(&[
        "worker",
        "--redis",
        &url,
        "--drain",
        "--max-deliveries",
        "3",
        "--visibility-timeout",
        "0.2",
    ]);
    let log = String::from_utf8_lossy(&work.stderr);
    assert!(work.status.success(), "{log}");
    assert!(log.contains("1 given up"), "{log}");
    let res = voxcap(&["results", "--redis", &url]);
    assert_eq!(res.status.code(), Some(1));
    let lines = json_lines(&res);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["deliveries"], 4);
    assert_eq!(lines[0]["error"]["kind"], "gave_up");
    let message = lines[0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("gave up after 3 deliveries"), "{message}");
    let pending: Vec<redis::Value> = redis::cmd("XPENDING")
        .arg(jobs)
        .arg("workers")
        .query(&mut con)
        .unwrap();
    assert_eq!(pending.first(), Some(&redis::Value::Int(0)), "acknowledged");
}

#[test]
fn sigterm_lets_a_worker_finish_and_exit_0() {
    let server = redis();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<String> = (0..20)
        .map(|i| {
            write_clip(dir.path(), i * 2)
                .0
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut args = vec!["enqueue", "--redis", url.as_str()];
    args.extend(paths.iter().map(String::as_str));
    assert!(voxcap(&args).status.success());
    let mut worker = ChildGuard::new(
        voxcap_cmd(&["worker", "--redis", &url, "-j", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut con = sync_conn(&url);
    let start = Instant::now();
    while hlen(&mut con, "voxcap:{default}:results") == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(worker.id(), "TERM");
    let status = worker.wait_timeout(Duration::from_secs(60), "the worker after SIGTERM");
    assert!(status.success(), "{status}");
    // Whatever it took, it finished: nothing it held is left pending.
    let pending: Vec<redis::Value> = redis::cmd("XPENDING")
        .arg("voxcap:{default}:jobs")
        .arg("workers")
        .query(&mut con)
        .unwrap();
    assert_eq!(pending.first(), Some(&redis::Value::Int(0)));
}

/// A worker's slow job stays its own (heartbeats keep it fresh, so a second
/// worker does not reclaim it after the visibility timeout), and SIGTERM
/// waits for it. The "slow file" is a FIFO: reading it blocks until the test
/// writes the audio, so the job takes exactly as long as the test wants.
#[cfg(unix)]
#[test]
fn a_slow_job_is_not_stolen_from_a_live_worker_and_sigterm_waits_for_it() {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let server = redis();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("slow.wav");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    assert!(
        voxcap(&["enqueue", "--redis", &url, fifo.to_str().unwrap()])
            .status
            .success()
    );
    let spawn = || {
        voxcap_cmd(&[
            "worker",
            "--redis",
            &url,
            "-j",
            "1",
            "--visibility-timeout",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
    };
    let mut workers = [ChildGuard::new(spawn()), ChildGuard::new(spawn())];
    let mut con = sync_conn(&url);
    let jobs = "voxcap:{default}:jobs";
    let pending = |con: &mut redis::Connection| -> Vec<(String, String, u64, u64)> {
        redis::cmd("XPENDING")
            .arg(&[jobs, "workers", "-", "+", "10"])
            .query(con)
            .unwrap()
    };
    let start = Instant::now();
    let owner = loop {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "nobody took the job"
        );
        if let Some((_, consumer, _, _)) = pending(&mut con).first() {
            break consumer.clone();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Three visibility timeouts: without heartbeats the other worker would
    // have reclaimed it by now.
    std::thread::sleep(Duration::from_millis(3500));
    let now = pending(&mut con);
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].1, owner, "the job moved to another worker");
    assert_eq!(now[0].3, 1, "the job was delivered again");

    let (mut holder, mut idle): (Vec<&mut ChildGuard>, Vec<&mut ChildGuard>) = workers
        .iter_mut()
        .partition(|c| owner.contains(&format!("-{}-", c.id())));
    assert_eq!(holder.len(), 1, "{owner} is one of the workers");
    for c in holder.iter().chain(idle.iter()) {
        signal(c.id(), "TERM");
    }
    let s = idle[0].wait_timeout(Duration::from_secs(30), "the idle worker after SIGTERM");
    assert!(s.success(), "{s}");
    // The holder cannot finish before the audio arrives.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        holder[0].try_wait().unwrap().is_none(),
        "it exited with a job in flight"
    );

    let mut audio = synth::silence(synth::samples_for(0.2, RATE));
    audio.extend(synth::dtmf_press(&synth::DtmfPress::new('9', 0.15), RATE));
    audio.extend(synth::silence(synth::samples_for(0.2, RATE)));
    let wav = synth::wav_pcm16_mono(&audio, RATE);
    // O_NONBLOCK: fails (rather than hangs) if the worker is not reading.
    let mut pipe = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(0o4000)
        .open(&fifo)
        .expect("the worker has the FIFO open");
    let mut written = 0;
    let start = Instant::now();
    while written < wav.len() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the worker stopped reading"
        );
        match pipe.write(&wav[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("writing the FIFO: {e}"),
        }
    }
    drop(pipe);
    let s = holder[0].wait_timeout(Duration::from_secs(30), "the holder after SIGTERM");
    assert!(s.success(), "{s}");
    let res = voxcap(&["results", "--redis", &url]);
    assert_eq!(
        res.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let lines = json_lines(&res);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["deliveries"], 1);
    assert_eq!(lines[0]["worker"].as_str(), Some(owner.as_str()));
    check_result(&lines[0], &Expect::Digits("9".into()));
}

/// A file whose analysis never ends (here a FIFO nobody writes) is reported
/// as a `timeout` error after `--job-timeout`; the worker goes on and exits.
#[cfg(unix)]
#[test]
fn a_hung_analysis_times_out_into_an_error_result_and_the_batch_ends() {
    let server = redis();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("never.wav");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let (clip, _) = write_clip(dir.path(), 4);
    let enq = voxcap(&[
        "enqueue",
        "--redis",
        &url,
        fifo.to_str().unwrap(),
        clip.to_str().unwrap(),
    ]);
    assert!(enq.status.success());
    let work = voxcap(&[
        "worker",
        "--redis",
        &url,
        "-j",
        "1",
        "--job-timeout",
        "1",
        "--drain",
    ]);
    let log = String::from_utf8_lossy(&work.stderr);
    assert!(work.status.success(), "{log}");
    let res = voxcap(&["results", "--redis", &url]);
    assert_eq!(res.status.code(), Some(1));
    let lines = json_lines(&res);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["error"]["kind"], "timeout", "{}", lines[0]);
    check_result(&lines[0], &Expect::Error);
    check_result(&lines[1], &Expect::Digits("2".into()));
}

/// `voxcap worker --speech-model`: a model that cannot be loaded stops the
/// worker before it takes a job (exit 1, naming the file); with the real
/// model (VOXCAP_SILERO_MODEL, set by scripts/test) a queued clip is
/// analysed fused, as `voxcap analyze --speech-model` does it (the same
/// speech and trim), under another settings hash than the classical worker's.
#[test]
fn a_worker_fuses_the_speech_model_it_is_given() {
    let server = redis();
    let url = server.url();
    let clip = crate::harness::testdata().join("speech/espeak_en_m1_s150.wav");
    let clip = clip.to_str().unwrap();
    let bad = voxcap(&[
        "worker",
        "--redis",
        &url,
        "--drain",
        "--speech-model",
        "/nonexistent/m.onnx",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("speech model /nonexistent/m.onnx"), "{err}");
    let model = std::env::var("VOXCAP_SILERO_MODEL").expect(
        "VOXCAP_SILERO_MODEL must name silero_vad.onnx (scripts/speech-set/fetch-silero.sh)",
    );
    let mut reports = Vec::new();
    for (queue, with_model) in [("fused", true), ("classical", false)] {
        assert_success(&voxcap(&[
            "enqueue", "--redis", &url, "--queue", queue, clip,
        ]));
        let mut args = vec!["worker", "--redis", &url, "--queue", queue, "--drain"];
        if with_model {
            args.extend(["--speech-model", &model]);
        }
        assert_success(&voxcap(&args));
        let res = voxcap(&["results", "--redis", &url, "--queue", queue]);
        assert_success(&res);
        reports.push(json_lines(&res)[0]["report"].clone());
    }
    let analyzed = json_lines(&voxcap(&[
        "analyze",
        "--format",
        "json",
        "--speech-model",
        &model,
        clip,
    ]));
    let sha = |v: &Value| {
        v["provenance"]["settingsSha256"]
            .as_str()
            .map(str::to_string)
    };
    // The model is part of the settings: the two workers' hashes differ.
    assert!(sha(&reports[0]).is_some(), "{}", reports[0]);
    assert_ne!(sha(&reports[0]), sha(&reports[1]));
    assert_eq!(reports[0]["speech"], analyzed[0]["speech"]);
    assert_eq!(reports[0]["trim"], analyzed[0]["trim"]);
}
