//! `WorkerConfig::root` (`voxcap worker --root DIR`): a job whose path does
//! not resolve inside the root is refused with an error result naming the
//! path, and its file is never opened (issue 14, item 9).

use std::sync::{Arc, Mutex};

use crate::{decode_job, silent_wav, Harness};

#[test]
fn worker_root_refuses_paths_outside_it_and_opens_only_files_inside() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("clips");
    let elsewhere = dir.path().join("private");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let inside = root.join("inside.wav");
    silent_wav(&inside);
    let outside = elsewhere.join("outside.wav");
    silent_wav(&outside);
    let link = root.join("link.wav");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let dotdot = root.join("../private/outside.wav");
    let missing = root.join("missing.wav");
    let paths = vec![
        inside.clone(),
        outside.clone(),
        link.clone(),
        dotdot.clone(),
        missing.clone(),
    ];

    let opened = Arc::new(Mutex::new(Vec::new()));
    let harness = Harness::start("root");
    let results = harness.run(&paths, Some(&root), decode_job(opened.clone()));

    assert_eq!(results.len(), 5);
    assert!(results[0].is_ok(), "{:?}", results[0]);
    for (r, path) in results[1..].iter().zip(&paths[1..]) {
        let e = r
            .error
            .as_ref()
            .unwrap_or_else(|| panic!("{r:?} must be refused"));
        assert_eq!(e.kind, "outside_root", "{e:?}");
        assert!(e.message.contains(path.to_str().unwrap()), "{e:?}");
    }
    // Only the file inside was opened, and by its resolved path.
    let opened = opened.lock().unwrap().clone();
    let resolved = inside.canonicalize().unwrap();
    assert_eq!(opened, vec![resolved.display().to_string()]);
}

#[test]
fn without_a_root_every_readable_path_is_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("a.wav");
    silent_wav(&clip);
    let harness = Harness::start("noroot");
    let results = harness.run(
        std::slice::from_ref(&clip),
        None,
        decode_job(Arc::default()),
    );
    assert!(results[0].is_ok(), "{:?}", results[0]);
}
