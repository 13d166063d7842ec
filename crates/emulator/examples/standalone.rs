//! Runs the emulator standalone, as `voxcap emulate` does:
//! `cargo run -p voxcap-emulator --example standalone -- 127.0.0.1:8765 [SCENARIO.json]`.

#![allow(clippy::print_stdout)]

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8765".into())
        .parse()?;
    let scenario = args.next().map(std::path::PathBuf::from);
    voxcap_emulator::run_standalone(listen, scenario, None, |info| println!("{info}")).await?;
    Ok(())
}
