//! A stored error result never quotes a file's contents: a job naming
//! `/etc/passwd` used to store `not a RIFF/WAVE file (starts with "root")`
//! (issue 14, item 9). The kind and the path stay.

use std::sync::Arc;

use crate::{decode_job, Harness};

#[test]
fn stored_error_results_quote_no_file_contents() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    std::fs::write(&passwd, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    let binary = dir.path().join("program");
    std::fs::write(
        &binary,
        [0x7f, b'E', 0x01, 0x4c, 0x46, 0x02, 0x01, 0x01, 0, 0, 0, 0],
    )
    .unwrap();
    let paths = vec![passwd.clone(), binary.clone()];

    let harness = Harness::start("quoting");
    let results = harness.run(&paths, None, decode_job(Arc::default()));

    for (r, path) in results.iter().zip(&paths) {
        let e = r
            .error
            .as_ref()
            .unwrap_or_else(|| panic!("{r:?} must fail"));
        assert_eq!(e.kind, "not_wav", "{e:?}");
        assert!(e.message.contains(path.to_str().unwrap()), "{e:?}");
        assert!(e.message.contains("withheld"), "{e:?}");
    }
    let passwd_message = &results[0].error.as_ref().unwrap().message;
    let shown = passwd_message.replace(passwd.to_str().unwrap(), "");
    assert!(!shown.contains("root"), "{passwd_message}");
    let binary_message = &results[1].error.as_ref().unwrap().message;
    assert!(!binary_message.contains("7f"), "{binary_message}");
}
