//! `voxcap emulate`: the local Graph calls emulator, standalone and in real
//! time, for pointing a bot (voxcap's or your own) at it.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// Arguments of `voxcap emulate`.
#[derive(Debug, Args)]
pub(crate) struct EmulateArgs {
    /// Address to listen on, e.g. 127.0.0.1:8765.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8765")]
    pub listen: SocketAddr,
    /// The default scenario (scripted caller) as a JSON file; see crates/emulator/README.md.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Serve HTTPS with a CA and certificate made at start-up (its PEM path is printed).
    #[arg(long)]
    pub tls: bool,
    /// With --tls: where to write the CA certificate (PEM).
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca_out: Option<PathBuf>,
    /// With --tls: another name for the certificate (repeatable), e.g. a container name.
    #[arg(long, value_name = "NAME", requires = "tls")]
    pub tls_name: Vec<String>,
}

/// Runs the emulator until ctrl-c.
pub(crate) fn run(args: &EmulateArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(voxcap_emulator::run_standalone(
        args.listen,
        args.scenario.clone(),
        args.tls.then(|| voxcap_emulator::StandaloneTls {
            ca_out: args.ca_out.clone(),
            extra_names: args.tls_name.clone(),
        }),
        |info| println!("voxcap emulator listening\n{info}\npress ctrl-c to stop"),
    ))
    .with_context(|| format!("emulator on {}", args.listen))
}
