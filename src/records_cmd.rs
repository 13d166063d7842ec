//! `voxcap verify-provenance`, `purge` and `decrypt`: the flags of voxcap-records'
//! verification, erasure and decryption. Exit codes: verify-provenance 0 (every file matches
//! its report and the audit chain holds), 1 (a mismatch, each named on stderr, or DIR
//! unreadable); purge and decrypt 0 done, 1 failed; all 2 for usage errors.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use clap::{ArgGroup, Args};
use voxcap_records::audit::AuditLog;
use voxcap_records::crypt::Identities;
use voxcap_records::retention::{purge, Selection};

/// Arguments of `voxcap verify-provenance`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The output directory of record, serve or a service.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Arguments of `voxcap purge`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).multiple(true).args(["older_than", "call_id", "client_context"])))]
pub(crate) struct PurgeArgs {
    /// The output directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Recordings older than this (e.g. 30d, 12h).
    #[arg(long, value_name = "AGE", value_parser = |s: &str| voxcap_records::time::parse_age(s).map_err(|e| e.to_string()))]
    pub older_than: Option<std::time::Duration>,
    /// Recordings of this call (either Graph id form).
    #[arg(long, value_name = "ID")]
    pub call_id: Option<String>,
    /// Recordings with this client context.
    #[arg(long, value_name = "TEXT")]
    pub client_context: Option<String>,
    /// List what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `voxcap decrypt`.
#[derive(Debug, Args)]
pub(crate) struct DecryptArgs {
    /// An encrypted recording (.wav.age).
    #[arg(value_name = "FILE")]
    pub input: PathBuf,
    /// The age identity file holding a key it was encrypted to.
    #[arg(long, value_name = "FILE")]
    pub identity: PathBuf,
    /// Where to write the plaintext (atomically).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs `voxcap verify-provenance`.
pub(crate) fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let v = voxcap_records::verify::verify_dir(&args.dir)?;
    for m in &v.mismatches {
        eprintln!("voxcap: {}: {}", m.file.display(), m.reason);
    }
    let (reports, files, lines, bad) = (v.reports, v.files, v.audit_lines, v.mismatches.len());
    eprintln!("voxcap: {reports} report(s), {files} file(s) hashed, {lines} audit line(s): {bad} mismatch(es)");
    Ok(ExitCode::from(u8::from(bad > 0)))
}

/// Runs `voxcap purge`: prints each recording's files chosen, one per line.
pub(crate) fn run_purge(args: &PurgeArgs) -> anyhow::Result<ExitCode> {
    let selection = Selection {
        older_than: args.older_than,
        call_id: args.call_id.clone(),
        client_context: args.client_context.clone(),
    };
    let audit = AuditLog::new(&args.dir, format!("purge-{}", std::process::id()));
    let chosen = purge(
        &args.dir,
        &selection,
        args.dry_run,
        &audit,
        SystemTime::now(),
    )?;
    let mut out = io::stdout().lock();
    for file in chosen.iter().flat_map(|r| &r.files) {
        writeln!(out, "{}", file.display())?;
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    eprintln!("voxcap: {verb} {} recording(s)", chosen.len());
    Ok(ExitCode::SUCCESS)
}

/// Runs `voxcap decrypt`.
pub(crate) fn decrypt(args: &DecryptArgs) -> anyhow::Result<ExitCode> {
    let ids = Identities::from_file(&args.identity).context("--identity")?;
    let mut plain = ids.open(&args.input)?;
    voxcap_records::atomic::write_atomically(&args.out, |f| io::copy(&mut plain, f).map(drop))
        .with_context(|| format!("{}: decrypting", args.input.display()))?;
    Ok(ExitCode::SUCCESS)
}
