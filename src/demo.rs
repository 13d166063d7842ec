//! `voxcap demo`: the whole record flow against an in-process emulator with
//! a scripted caller: client credentials, recordResponse, a JWT-signed
//! notification verified against the emulator's keys, streaming download and
//! analysis, files written, and a short human summary.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use voxcap_bot::emulated::EmulatedSetup;
use voxcap_bot::{ApiKind, RecordPlan, RecordSpec};
use voxcap_emulator::EmulatorConfig;

/// A scenario of `testdata/scenarios/` by name, with its text.
macro_rules! scenario {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../testdata/scenarios/", $name, ".json")),
        )
    };
}

/// The scenarios shipped in `testdata/scenarios/`, embedded so the demo
/// runs from any directory.
const SCENARIOS: &[(&str, &str)] = &[
    scenario!("stop_tone_hash"),
    scenario!("answer_then_silence"),
    scenario!("hangup_mid_answer"),
    scenario!("noisy_answer_then_star"),
    scenario!("pause_inside_answer"),
    scenario!("prompt_fails"),
    scenario!("silent_caller"),
    scenario!("talk_past_max_duration"),
];

/// Arguments of `voxcap demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Output directory (created; default ./voxcap-demo-out).
    #[arg(long, value_name = "DIR", default_value = "voxcap-demo-out")]
    pub out: PathBuf,
    /// The scripted caller: a name from testdata/scenarios (without .json) or a JSON file.
    #[arg(long, value_name = "NAME", default_value = "stop_tone_hash")]
    pub scenario: String,
}

fn load_scenario(name: &str) -> anyhow::Result<serde_json::Value> {
    let text = match SCENARIOS.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => text.to_string(),
        None => std::fs::read_to_string(name).with_context(|| {
            let known: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
            format!(
                "--scenario {name}: neither a built-in scenario ({}) nor a readable file",
                known.join(", ")
            )
        })?,
    };
    serde_json::from_str(&text).with_context(|| format!("--scenario {name}: not JSON"))
}

/// Runs `voxcap demo`.
pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    crate::record_cmd::init_tracing();
    let scenario = load_scenario(&args.scenario)?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async {
        // A quarter of real time keeps the demo quick while the timers stay
        // in proportion; the bot itself runs as it would against Graph.
        let config = EmulatorConfig {
            time_scale: 0.25,
            asset_root: std::env::current_dir().unwrap_or_else(|_| ".".into()),
            ..EmulatorConfig::default()
        };
        let setup = EmulatedSetup::start(config).await?;
        let (url, hook) = (&setup.emulator.base_url, setup.bot.callback_url());
        println!("emulator   {url} (Graph v1.0 at {url}/v1.0)");
        println!("webhook    {hook} (notifications verified as RS256 JWTs)");
        let call_id = setup.create_call(Some(&scenario)).await?;
        let caller = scenario
            .get("description")
            .and_then(|d| d.as_str())
            .unwrap_or("(no description)");
        println!("call       {call_id}");
        println!("caller     {caller}");
        let spec = RecordSpec {
            stop_tones: "#*".into(),
            ..RecordSpec::default()
        };
        let plan = RecordPlan::new(ApiKind::RecordResponse, &spec, &args.out);
        let outcome = setup.bot.record(&call_id, &plan).await;
        setup.stop().await;
        let outcome = outcome.map_err(crate::record_cmd::bot_error)?;
        let op = &outcome.operation;
        println!("operation  {} {}", op.id, op.status);
        println!(
            "reported   {} (resultInfo {} / {})",
            op.completion_reason.as_deref().unwrap_or("-"),
            op.result_info.code.map_or("-".into(), |c| c.to_string()),
            op.result_info.subcode.map_or("-".into(), |c| c.to_string()),
        );
        if let Some(r) = &outcome.report {
            let digits: String = r.dtmf.iter().map(|d| d.digit).collect();
            println!(
                "heard      {:.2} s of speech in {} segment(s), keys {:?}, {:.2} s recorded",
                r.quality.speech_s,
                r.speech.len(),
                digits,
                r.duration_s
            );
            println!("verdict    {:?}", r.completion.verdict);
        }
        if let Some(f) = &outcome.files {
            println!("files      {}", f.wav.display());
            println!("           {}", f.trimmed.display());
        }
        if let Some(j) = &outcome.json_path {
            println!("           {}", j.display());
        }
        if let Some(l) = outcome.notification_to_report {
            let ms = l.as_secs_f64() * 1e3;
            println!("latency    {ms:.1} ms from notification to report");
        }
        Ok(crate::record_cmd::exit_code(&outcome))
    })
}
