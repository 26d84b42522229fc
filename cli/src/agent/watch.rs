//! Noticing that the watched directories changed: a cheap stamp (name,
//! size, modification time, inode) of every file, compared at each poll.
//! Polling keeps the agent free of platform APIs; the source itself skips
//! a re-apply when the rendered text did not change.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// One file's stamp.
type Stamp = (PathBuf, u64, i64, i64, u64);

/// Watches directories (not recursively) for any file change.
#[derive(Debug)]
pub struct Watcher {
    dirs: Vec<PathBuf>,
    last: Option<Vec<Stamp>>,
}

impl Watcher {
    /// Watches `dirs`; the first [`Watcher::changed`] reports a change.
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        Watcher { dirs, last: None }
    }

    /// Has anything changed since the last call?
    pub fn changed(&mut self) -> bool {
        let now = self.stamp();
        let changed = self.last.as_ref() != Some(&now);
        self.last = Some(now);
        changed
    }

    fn stamp(&self) -> Vec<Stamp> {
        let mut out = Vec::new();
        for dir in &self.dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                // A missing directory is a state too: its reappearance is a change.
                continue;
            };
            for e in entries.flatten() {
                // Follow symlinks: a mounted ConfigMap's files are links
                // into a directory that is swapped on update.
                if let Ok(m) = std::fs::metadata(e.path())
                    && m.is_file()
                {
                    out.push((e.path(), m.len(), m.mtime(), m.mtime_nsec(), m.ino()));
                }
            }
        }
        out.sort();
        out
    }
}
