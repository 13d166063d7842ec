//! The one generator of process ids for the fleet and the batch queue:
//! `host-pid-random`, so two instances (or two workers) never share a name,
//! not even two containers that reuse a pid on one host.

/// `host-pid-random`: the host name (sanitised to `[A-Za-z0-9_-]`, at most
/// 40 characters), this process's id and 32 random bits in hex.
pub fn generate_instance_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            ["/proc/sys/kernel/hostname", "/etc/hostname"]
                .iter()
                .find_map(|p| std::fs::read_to_string(p).ok())
        })
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_unique_clean_and_carry_the_pid() {
        let a = generate_instance_id();
        let b = generate_instance_id();
        assert_ne!(a, b);
        assert!(!a.contains([' ', '\n', ':']), "{a}");
        assert!(a.contains(&format!("-{}-", std::process::id())), "{a}");
    }
}
