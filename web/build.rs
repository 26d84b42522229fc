//! Lists the repository's `examples/` at build time so that the playground's
//! examples menu grows with the folder: each `examples/*.yaml` (or `.yml`) is
//! one example; each subfolder holding YAML files is one example made of its
//! files joined as one multi-document stream. A missing or empty folder gives
//! an empty list (the built-in starter is always there).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn is_yaml(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml") | Some("yml")
    )
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let examples = manifest_dir.join("..").join("examples");
    println!("cargo:rerun-if-changed={}", examples.display());

    // (name, files) in name order.
    let mut list: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for path in sorted_entries(&examples) {
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.is_file() && is_yaml(&path) {
            list.push((stem.to_string(), vec![path.clone()]));
        } else if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            let files: Vec<PathBuf> = sorted_entries(&path)
                .into_iter()
                .filter(|p| p.is_file() && is_yaml(p))
                .collect();
            if !files.is_empty() {
                list.push((stem.to_string(), files));
            }
        }
    }

    let mut code = String::from(
        "/// The repository's examples, `(name, manifests)`, in name order.\n\
         pub const EXAMPLES: &[(&str, &str)] = &[\n",
    );
    for (name, files) in &list {
        let parts: Vec<String> = files
            .iter()
            .map(|f| {
                println!("cargo:rerun-if-changed={}", f.display());
                format!("include_str!({:?})", f.display().to_string())
            })
            .collect();
        // Files of a folder become one stream: `---` between them.
        let body = if parts.len() == 1 {
            parts[0].clone()
        } else {
            format!("concat!({})", parts.join(", \"\\n---\\n\", "))
        };
        let _ = writeln!(code, "    ({name:?}, {body}),");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("examples.rs");
    std::fs::write(out, code).expect("write examples.rs");
}
