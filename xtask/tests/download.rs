//! End to end: `cargo xtask download` against a local HTTP server on 127.0.0.1 serving
//! generated files — fresh download, resume of a broken download with a Range request, a server
//! that ignores Range, a bad checksum kept apart, no refetch of a good file, manual entries, and
//! the .pth -> safetensors conversion of weights (the .pth written by torch.save).
use std::path::Path;
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

mod support {
    pub mod http_server;
}
use support::http_server::{Served, Server};

/// Deterministic pseudo-random bytes (64-bit LCG).
fn generated(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes a one-file registry entry and returns its path.
fn registry(
    dir: &Path,
    kind: &str,
    name: &str,
    file: &str,
    sha256: &str,
    size: usize,
    extra: &str,
) -> std::path::PathBuf {
    let p = dir.join("registry.toml");
    std::fs::write(
        &p,
        format!(
            "[[entry]]\nname = \"{name}\"\nkind = \"{kind}\"\nlicence = \"test\"\n{extra}\n\
             [[entry.files]]\nurl = \"http://example.invalid/{file}\"\nsha256 = \"{sha256}\"\nsize = {size}\n"
        ),
    )
    .unwrap();
    p
}

fn xtask_download(args: &[&str], registry: &Path, dest: &Path, base_url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("download")
        .args(args)
        .arg("--registry")
        .arg(registry)
        .arg("--dest")
        .arg(dest)
        .arg("--base-url")
        .arg(base_url)
        .output()
        .expect("run the xtask binary")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn fresh_download_verifies_and_a_good_file_is_not_fetched_again() {
    let server = Server::start();
    let body = generated(200_000, 1);
    server.put(
        "/scans.zip",
        Served {
            body: body.clone(),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(
        dir.path(),
        "dataset",
        "toy",
        "scans.zip",
        &sha256_hex(&body),
        body.len(),
        "",
    );
    let dest = dir.path().join("data");

    let o = xtask_download(&["dataset", "toy"], &reg, &dest, &server.base_url);
    assert!(o.status.success(), "{}", stderr(&o));
    let file = dest.join("toy/scans.zip");
    assert_eq!(std::fs::read(&file).unwrap(), body);
    assert!(!dest.join("toy/scans.zip.part").exists());
    assert_eq!(server.hits("/scans.zip"), 1);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        dest.join("toy").display().to_string()
    );

    let o = xtask_download(&["dataset", "toy"], &reg, &dest, &server.base_url);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        server.hits("/scans.zip"),
        1,
        "a verified file must not be fetched again"
    );
    assert!(stderr(&o).contains("already there"), "{}", stderr(&o));
}

#[test]
fn a_broken_download_resumes_with_a_range_request() {
    let server = Server::start();
    let body = generated(300_000, 2);
    server.put(
        "/w.bin",
        Served {
            body: body.clone(),
            cut_after: Some(120_000),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(
        dir.path(),
        "dataset",
        "toy",
        "w.bin",
        &sha256_hex(&body),
        body.len(),
        "",
    );
    let dest = dir.path().join("d");

    let o = xtask_download(&["dataset", "toy"], &reg, &dest, &server.base_url);
    assert!(!o.status.success(), "a broken transfer must be an error");
    assert!(stderr(&o).contains("resume"), "{}", stderr(&o));
    let part = dest.join("toy/w.bin.part");
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 120_000);
    assert!(!dest.join("toy/w.bin").exists());

    server.put(
        "/w.bin",
        Served {
            body: body.clone(),
            ..Default::default()
        },
    );
    let sent_before = server.log.lock().unwrap().bytes_sent;
    let o = xtask_download(&["dataset", "toy"], &reg, &dest, &server.base_url);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(dest.join("toy/w.bin")).unwrap(), body);
    let log = server.log.lock().unwrap();
    assert_eq!(log.ranges, vec!["bytes=120000-".to_string()]);
    assert_eq!(
        log.bytes_sent - sent_before,
        180_000,
        "only the missing bytes are fetched"
    );
}

#[test]
fn a_server_that_ignores_range_restarts_the_file() {
    let server = Server::start();
    let body = generated(50_000, 3);
    server.put(
        "/a.bin",
        Served {
            body: body.clone(),
            ignore_range: true,
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(
        dir.path(),
        "dataset",
        "toy",
        "a.bin",
        &sha256_hex(&body),
        body.len(),
        "",
    );
    let dest = dir.path().join("d");
    std::fs::create_dir_all(dest.join("toy")).unwrap();
    std::fs::write(dest.join("toy/a.bin.part"), generated(1_000, 99)).unwrap();

    let o = xtask_download(&["dataset", "toy"], &reg, &dest, &server.base_url);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(dest.join("toy/a.bin")).unwrap(), body);
}

#[test]
fn a_bad_checksum_is_refused_and_the_file_kept_apart() {
    let server = Server::start();
    let body = generated(10_000, 4);
    server.put(
        "/m.pth",
        Served {
            body: body.clone(),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let wrong = sha256_hex(b"something else");
    let reg = registry(
        dir.path(),
        "weights",
        "toy",
        "m.pth",
        &wrong,
        body.len(),
        "",
    );
    let dest = dir.path().join("w");

    let o = xtask_download(&["weights", "toy"], &reg, &dest, &server.base_url);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains(&wrong) && err.contains(&sha256_hex(&body)),
        "{err}"
    );
    assert!(err.contains("m.pth.bad"), "{err}");
    assert!(
        !dest.join("toy/m.pth").exists(),
        "an unverified file must not take the final name"
    );
    assert_eq!(std::fs::read(dest.join("toy/m.pth.bad")).unwrap(), body);

    // Again: the earlier .bad file is not overwritten.
    let o = xtask_download(&["weights", "toy"], &reg, &dest, &server.base_url);
    assert!(!o.status.success());
    assert!(dest.join("toy/m.pth.bad.2").exists());

    // A wrong size is refused too.
    let reg = registry(
        dir.path(),
        "weights",
        "toy",
        "m.pth",
        "",
        body.len() + 1,
        "",
    );
    let o = xtask_download(&["weights", "toy"], &reg, &dest, &server.base_url);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("bytes"), "{}", stderr(&o));
}

#[test]
fn an_unhashed_file_is_pinned_on_first_download() {
    let server = Server::start();
    let body = generated(5_000, 5);
    server.put(
        "/u.zip",
        Served {
            body: body.clone(),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), "dataset", "toy", "u.zip", "", 0, "");
    let dest = dir.path().join("d");
    let o = xtask_download(&["dataset", "toy"], &reg, &dest, &server.base_url);
    assert!(o.status.success(), "{}", stderr(&o));
    let pin = std::fs::read_to_string(dest.join("toy/u.zip.sha256")).unwrap();
    assert!(pin.starts_with(&sha256_hex(&body)), "{pin}");
    // It says it trusted the file on first use, and gives the hash to compare elsewhere.
    let err = stderr(&o);
    assert!(
        err.contains("TRUSTED ON FIRST USE")
            && err.contains(&sha256_hex(&body))
            && err.contains("u.zip.sha256")
            && err.contains("compare"),
        "{err}"
    );

    // The file changes on disk: the pin catches it, the file is set apart and fetched again.
    std::fs::write(dest.join("toy/u.zip"), b"tampered").unwrap();
    let o = xtask_download(&["dataset", "toy"], &reg, &dest, &server.base_url);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dest.join("toy/u.zip.bad")).unwrap(),
        b"tampered"
    );
    assert_eq!(std::fs::read(dest.join("toy/u.zip")).unwrap(), body);
    assert_eq!(server.hits("/u.zip"), 2);
}

#[test]
fn manual_entries_print_their_steps_and_unknown_names_list_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("r.toml");
    std::fs::write(
        &reg,
        "[[entry]]\nname = \"locked\"\nkind = \"dataset\"\nlicence = \"t\"\nmanual = \"1. log in at https://x\"\n",
    )
    .unwrap();
    let o = xtask_download(
        &["dataset", "locked"],
        &reg,
        dir.path(),
        "http://127.0.0.1:9",
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("1. log in at https://x"),
        "{}",
        stderr(&o)
    );
    let o = xtask_download(&["dataset", "nope"], &reg, dir.path(), "http://127.0.0.1:9");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("known: locked"), "{}", stderr(&o));
    // A missing file on the server is an HTTP error naming the URL.
    let server = Server::start();
    let reg = registry(dir.path(), "dataset", "toy", "gone.zip", "", 0, "");
    let o = xtask_download(&["dataset", "toy"], &reg, dir.path(), &server.base_url);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("404") && stderr(&o).contains("gone.zip"),
        "{}",
        stderr(&o)
    );
}

/// Weights are kept as published (danie reads .pth itself): the downloaded file is the served
/// bytes, nothing is written beside it, and a second run does not fetch it again.
#[test]
fn weights_are_kept_as_published_and_not_fetched_twice() {
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..4096u32).flat_map(|i| i.to_le_bytes()).collect();
    let server = Server::start();
    server.put(
        "/tiny-abcd.pth",
        Served {
            body: body.clone(),
            ..Default::default()
        },
    );
    let reg = registry(
        dir.path(),
        "weights",
        "tiny",
        "tiny-abcd.pth",
        &sha256_hex(&body),
        body.len(),
        "",
    );
    let dest = dir.path().join("w");
    for _ in 0..2 {
        let o = xtask_download(&["weights", "tiny"], &reg, &dest, &server.base_url);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(
        std::fs::read(dest.join("tiny/tiny-abcd.pth")).unwrap(),
        body
    );
    let names: Vec<String> = std::fs::read_dir(dest.join("tiny"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["tiny-abcd.pth"]);
    assert_eq!(server.hits("/tiny-abcd.pth"), 1);
}

#[test]
fn a_file_found_in_place_without_hash_or_pin_is_pinned_with_a_trust_on_first_use_notice() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), "dataset", "toy", "here.zip", "", 0, "");
    let dest = dir.path().join("d");
    std::fs::create_dir_all(dest.join("toy")).unwrap();
    let body = generated(3_000, 6);
    std::fs::write(dest.join("toy/here.zip"), &body).unwrap();
    let server = Server::start();
    let o = xtask_download(&["dataset", "toy"], &reg, &dest, &server.base_url);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("TRUSTED ON FIRST USE") && err.contains(&sha256_hex(&body)),
        "{err}"
    );
    assert_eq!(
        server.hits("/here.zip"),
        0,
        "a file in place is not fetched"
    );
    let pin = std::fs::read_to_string(dest.join("toy/here.zip.sha256")).unwrap();
    assert!(pin.starts_with(&sha256_hex(&body)), "{pin}");
    // From now on it is checked against the pin: a changed file no longer passes unnoticed.
    std::fs::write(dest.join("toy/here.zip"), b"changed").unwrap();
    let o = xtask_download(&["dataset", "toy"], &reg, &dest, &server.base_url);
    assert!(stderr(&o).contains("does not verify"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dest.join("toy/here.zip.bad")).unwrap(),
        b"changed"
    );
}

#[test]
fn a_server_that_sends_more_than_the_registry_size_is_cut_off() {
    let server = Server::start();
    // No Content-Length: only the registry's size can stop the transfer.
    let body = generated(2_000_000, 7);
    server.put(
        "/big.bin",
        Served {
            body: body.clone(),
            no_length: true,
            ..Default::default()
        },
    );
    // Announced larger than the registry's size: refused before any byte is stored.
    server.put(
        "/told.bin",
        Served {
            body: body.clone(),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("d");
    let reg = registry(dir.path(), "dataset", "toy", "big.bin", "", 10_000, "");
    let o = xtask_download(&["dataset", "toy"], &reg, &dest, &server.base_url);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("more than") && err.contains("10000"), "{err}");
    assert_eq!(
        std::fs::metadata(dest.join("toy/big.bin.bad"))
            .unwrap()
            .len(),
        10_001,
        "reading stops one byte past the expected size"
    );
    assert!(!dest.join("toy/big.bin").exists());

    let reg = registry(dir.path(), "dataset", "toy2", "told.bin", "", 10_000, "");
    let o = xtask_download(&["dataset", "toy2"], &reg, &dest, &server.base_url);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("announces 2000000 bytes"),
        "{}",
        stderr(&o)
    );
    assert!(!dest.join("toy2/told.bin").exists());
    assert!(!dest.join("toy2/told.bin.part").exists());
}

#[cfg(unix)]
#[test]
fn a_link_planted_at_the_partial_download_is_not_written_through() {
    let server = Server::start();
    let body = generated(4_000, 8);
    server.put(
        "/p.bin",
        Served {
            body: body.clone(),
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let dest = dir.path().join("d");
    std::fs::create_dir_all(dest.join("toy")).unwrap();
    std::os::unix::fs::symlink(&victim, dest.join("toy/p.bin.part")).unwrap();
    let reg = registry(
        dir.path(),
        "dataset",
        "toy",
        "p.bin",
        &sha256_hex(&body),
        body.len(),
        "",
    );
    let o = xtask_download(&["dataset", "toy"], &reg, &dest, &server.base_url);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("p.bin.part") && stderr(&o).contains("symbolic link"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

#[test]
fn registry_names_that_would_leave_the_destination_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), "dataset", "../../escape", "x.bin", "", 0, "");
    let dest = dir.path().join("a/b/d");
    let o = xtask_download(
        &["dataset", "../../escape"],
        &reg,
        &dest,
        "http://127.0.0.1:9",
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("registry.toml") && stderr(&o).contains("separator"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("escape").exists());
}
