//! `.ci/setup` decides what a fresh machine lacks the way bindgen looks for
//! libclang: tried against fake roots (`IGDEMU_SETUP_ROOT`) in dry-run mode.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fake_root(name: &str, files: &[&str]) -> PathBuf {
    let root = std::env::temp_dir().join(format!("igdemu-setup-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for f in files {
        let p = root.join(f);
        std::fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&p, b"").expect("write");
    }
    std::fs::create_dir_all(&root).expect("mkdir");
    root
}

/// What `.ci/setup` would install on `root`.
fn would_install(root: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/setup");
    let o = Command::new("bash")
        .arg(script)
        .env("IGDEMU_SETUP_ROOT", root)
        .env("IGDEMU_SETUP_DRY_RUN", "1")
        .env_remove("LIBCLANG_PATH")
        .output()
        .expect("bash runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const SEABIOS: &str = "usr/share/seabios/vgabios-stdvga.bin";
const CMAKE: &str = "usr/bin/cmake";

#[test]
fn only_libclang_cpp_means_libclang_dev_is_needed() {
    let root = fake_root(
        "cpp",
        &[
            "usr/lib/llvm-14/lib/libclang-cpp.so.14",
            "usr/lib/x86_64-linux-gnu/libclang-cpp.so.14",
            SEABIOS,
            CMAKE,
        ],
    );
    // The fake cmake must be executable to count.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root.join(CMAKE), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let out = would_install(&root);
    assert_eq!(out.trim(), "setup: would install libclang-dev", "{out}");
}

#[test]
fn each_name_bindgen_loads_counts_as_libclang() {
    for lib in [
        "usr/lib/llvm-14/lib/libclang.so",
        "usr/lib/x86_64-linux-gnu/libclang-14.so",
        "usr/lib/x86_64-linux-gnu/libclang.so.1",
        "usr/lib/x86_64-linux-gnu/libclang-14.so.1",
        "usr/local/llvm-17/lib/libclang.so",
    ] {
        let root = fake_root("lib", &[lib, "usr/lib/x86_64-linux-gnu/libclang-cpp.so.14"]);
        let out = would_install(&root);
        assert!(!out.contains("libclang-dev"), "{lib}: {out}");
        assert!(
            out.contains("cmake") && out.contains("seabios"),
            "{lib}: {out}"
        );
    }
}

#[test]
fn an_empty_root_needs_everything() {
    let out = would_install(&fake_root("empty", &[]));
    assert_eq!(
        out.trim(),
        "setup: would install cmake libclang-dev seabios"
    );
}
