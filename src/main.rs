//! The `voxcap` command line: a thin layer over the voxcap crates.
fn main() {}
