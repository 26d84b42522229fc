//! The files source: the watched directories' manifests, as
//! [`SourceEvent`]s.
//!
//! The kernel tells us what changed (inotify, through `notify`); only the
//! files named in its events are looked at again, and only those whose
//! stamp (size, modification time, inode) moved are read. An event the
//! kernel could not name precisely (a queue overflow, a ConfigMap volume
//! swapping its `..data` link) makes the source compare every file's stamp
//! once. Where inotify cannot be had, the source compares every file's
//! stamp each `--poll-interval` instead.
//!
//! Inputs are named as `svcgen render -f DIR` names them (`DIR/file.yaml`),
//! so a diagnostic names the same file either way.

use super::source::{Sender, SourceEvent};
use libsvc::incremental::Change;
use libsvc::parse::Input;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Which files of a directory are inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Manifests: `*.yaml`, `*.yml`, `*.json` (as `-f DIR` reads them).
    Manifests,
    /// Every regular file (rule text for `--source rendered`).
    Any,
}

impl Pick {
    fn wants(self, p: &Path) -> bool {
        match self {
            Pick::Manifests => matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ),
            Pick::Any => true,
        }
    }
}

/// One file's stamp: size, modification time (s, ns), inode.
type Stamp = (u64, i64, i64, u64);

/// The files source's state: what it last told the loop about each file.
#[derive(Debug)]
pub struct Files {
    dirs: Vec<PathBuf>,
    /// Files named on their own (`-f FILE`): inputs whatever their names.
    files: Vec<PathBuf>,
    pick: Pick,
    known: BTreeMap<PathBuf, Stamp>,
    /// Some input read was a symbolic link (a mounted ConfigMap's are):
    /// then a rename of anything may change what an input holds.
    links: Arc<AtomicBool>,
}

impl Files {
    /// A source over `dirs` (not recursive).
    pub fn new(dirs: Vec<PathBuf>, pick: Pick) -> Self {
        Files {
            dirs,
            files: Vec::new(),
            pick,
            known: BTreeMap::new(),
            links: Arc::default(),
        }
    }

    /// Adds files named on their own.
    pub fn with_files(mut self, files: Vec<PathBuf>) -> Self {
        self.files = files;
        self
    }

    fn wants(&self, p: &Path) -> bool {
        self.files.iter().any(|f| f == p) || self.pick.wants(p)
    }

    /// Every file now: the whole state, and what could not be read.
    pub fn relist(&mut self) -> (Vec<Input>, Vec<String>) {
        self.known.clear();
        let mut inputs = Vec::new();
        let mut failed = Vec::new();
        for p in self.list() {
            match self.read(&p) {
                Ok(Some(i)) => inputs.push(i),
                Ok(None) => {}
                Err(e) => failed.push(e),
            }
        }
        (inputs, failed)
    }

    /// What changed among `paths` (or among every file, when `None`).
    pub fn changes(&mut self, paths: Option<BTreeSet<PathBuf>>) -> (Vec<Change>, Vec<String>) {
        let paths: BTreeSet<PathBuf> = match paths {
            Some(p) => p,
            None => self
                .list()
                .into_iter()
                .chain(self.known.keys().cloned())
                .collect(),
        };
        let mut changes = Vec::new();
        let mut failed = Vec::new();
        for p in paths {
            let now = stamp(&p).filter(|_| self.wants(&p));
            match (now, self.known.get(&p)) {
                (None, Some(_)) => {
                    self.known.remove(&p);
                    changes.push(Change::Remove(name(&p).into()));
                }
                (None, None) => {}
                (Some(s), Some(k)) if s == *k => {}
                (Some(_), _) => match self.read(&p) {
                    Ok(Some(i)) => changes.push(Change::Put(i)),
                    Ok(None) => {}
                    // Unreadable now: its last good state stays.
                    Err(e) => failed.push(e),
                },
            }
        }
        (changes, failed)
    }

    /// The input files in the watched directories, in name order.
    fn list(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for dir in &self.dirs {
            // A missing directory is a state too: its reappearance is a change.
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = dir.join(e.file_name());
                if self.pick.wants(&p) && stamp(&p).is_some() {
                    out.push(p);
                }
            }
        }
        out.sort();
        out.extend(self.files.iter().filter(|p| stamp(p).is_some()).cloned());
        out
    }

    /// Reads one file and remembers its stamp; `None` if it is gone.
    fn read(&mut self, p: &Path) -> Result<Option<Input>, String> {
        let Some(s) = stamp(p) else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        // One byte past the limit, so that an oversized file is reported.
        std::fs::File::open(p)
            .and_then(|f| {
                f.take(libsvc::parse::MAX_INPUT_BYTES as u64 + 1)
                    .read_to_end(&mut buf)
            })
            .map_err(|e| format!("{}: cannot read: {e}", name(p)))?;
        let input = Input::from_bytes(name(p), buf).map_err(|d| d.to_string())?;
        self.known.insert(p.to_path_buf(), s);
        if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) {
            self.links.store(true, Ordering::Relaxed);
        }
        // Found in a directory, not named: as `-f DIR` reads it.
        if self.files.iter().any(|f| f == p) {
            Ok(Some(input))
        } else {
            Ok(Some(input.in_directory()))
        }
    }
}

/// A file's name as an input: its path as given.
fn name(p: &Path) -> String {
    p.display().to_string()
}

/// The stamp of a regular file (symlinks followed: a mounted ConfigMap's
/// files are links into a directory that is swapped on update).
fn stamp(p: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(p).ok()?;
    m.is_file()
        .then(|| (m.len(), m.mtime(), m.mtime_nsec(), m.ino()))
}

/// What the watcher thread tells the source task.
enum Seen {
    /// These paths changed.
    Paths(Vec<PathBuf>),
    /// Something changed that the kernel could not name: look at everything.
    Everything,
}

/// Runs the files source until the loop hangs up: a [`SourceEvent::Relist`]
/// first, then a [`SourceEvent::Changes`] per batch of file events.
/// Watches with inotify; polls every `poll` when that cannot be had (or
/// when `force_poll`).
pub async fn run(mut files: Files, poll: Duration, force_poll: bool, tx: Sender) {
    let (inputs, failed) = files.relist();
    for f in failed {
        if tx.send(SourceEvent::Failed(f)).await.is_err() {
            return;
        }
    }
    if tx.send(SourceEvent::Relist(inputs)).await.is_err() {
        return;
    }
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<Seen>();
    // Kept alive as long as the task runs: dropping it stops the watch.
    let watcher = if force_poll {
        Err(notify::Error::generic("--poll given"))
    } else {
        watch(&files, seen_tx)
    };
    match &watcher {
        Ok(_) => tracing::info!(dirs = %dirs_label(&files.dirs), "watching with inotify"),
        Err(e) => tracing::info!(
            reason = %e,
            poll_interval = ?poll,
            "polling the directories"
        ),
    }
    loop {
        let paths = if watcher.is_ok() {
            let Some(first) = seen.recv().await else {
                return;
            };
            // Everything already waiting goes in the same batch.
            let mut batch = Some(BTreeSet::new());
            let add = |s: Seen, batch: &mut Option<BTreeSet<PathBuf>>| match (s, batch) {
                (Seen::Paths(ps), Some(b)) => b.extend(ps),
                (Seen::Everything, b) => *b = None,
                (Seen::Paths(_), None) => {}
            };
            add(first, &mut batch);
            while let Ok(s) = seen.try_recv() {
                add(s, &mut batch);
            }
            batch
        } else {
            tokio::time::sleep(poll).await;
            None
        };
        let (changes, failed) = files.changes(paths);
        for f in failed {
            if tx.send(SourceEvent::Failed(f)).await.is_err() {
                return;
            }
        }
        if !changes.is_empty() && tx.send(SourceEvent::Changes(changes)).await.is_err() {
            return;
        }
        if tx.is_closed() {
            return;
        }
    }
}

fn dirs_label(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Starts an inotify watch of the directories and files; events go to `seen`.
fn watch(
    files: &Files,
    seen: tokio::sync::mpsc::UnboundedSender<Seen>,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
    let dirs: Vec<PathBuf> = files.dirs.clone();
    let named: Vec<PathBuf> = files.files.clone();
    let pick = files.pick;
    let in_dirs = dirs.clone();
    let plain = named.is_empty();
    let links = files.links.clone();
    let is_input = move |p: &PathBuf| {
        named.contains(p) || (pick.wants(p) && dirs.iter().any(|d| p.parent() == Some(d)))
    };
    let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        let s = match ev {
            Ok(ev) if ev.need_rescan() => Seen::Everything,
            // A file is read once its writer closes it, not half-written:
            // creation, data writes, opens and reads are not changes yet.
            Ok(ev)
                if matches!(
                    ev.kind,
                    EventKind::Create(_)
                        | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Metadata(_))
                        | EventKind::Access(
                            AccessKind::Read
                                | AccessKind::Open(_)
                                | AccessKind::Close(AccessMode::Read | AccessMode::Execute)
                        )
                ) =>
            {
                return;
            }
            Ok(ev) => {
                let inputs: Vec<PathBuf> =
                    ev.paths.iter().filter(|p| is_input(p)).cloned().collect();
                if !inputs.is_empty() {
                    // `sed -i` and editors write a temporary file and rename
                    // it over the input: the input's path is what counts.
                    Seen::Paths(inputs)
                } else if matches!(ev.kind, EventKind::Modify(ModifyKind::Name(_)))
                    && plain
                    && !links.load(Ordering::Relaxed)
                    && ev
                        .paths
                        .iter()
                        .all(|p| in_dirs.iter().any(|d| p.parent() == Some(d)))
                {
                    // A file that is not an input renamed in a watched
                    // directory (`sed -i`'s temporary file, whose rename
                    // over the input names the input too): with no input a
                    // link, no input changes by it — and a look at every
                    // file costs tens of ms at 10k files.
                    return;
                } else if matches!(
                    ev.kind,
                    EventKind::Modify(ModifyKind::Name(_) | ModifyKind::Any | ModifyKind::Other)
                        | EventKind::Remove(_)
                        | EventKind::Any
                        | EventKind::Other
                ) {
                    // A rename or removal of something that is not an input
                    // (a ConfigMap volume swapping its `..data` link) may
                    // change what the inputs' links point to: look at
                    // everything.
                    Seen::Everything
                } else {
                    // Another file written (an editor's swap file): not ours.
                    return;
                }
            }
            Err(_) => Seen::Everything,
        };
        // The source task is gone: the agent is stopping.
        let _ = seen.send(s);
    })?;
    for d in files.dirs.iter().chain(&files.files) {
        w.watch(d, notify::RecursiveMode::NonRecursive)?;
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("svcgen-files-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn names(c: &[Change]) -> Vec<String> {
        c.iter()
            .map(|c| match c {
                Change::Put(i) => format!("put {}", i.name),
                Change::Remove(n) => format!("remove {n}"),
            })
            .collect()
    }

    /// Only changed files are read again; a deleted file is a Remove, a
    /// rename a Remove and a Put; other files are not inputs.
    #[test]
    fn changes_name_only_what_moved() {
        let d = tmp("changes");
        std::fs::write(d.join("a.yaml"), "kind: Service\n").unwrap();
        std::fs::write(d.join("b.yaml"), "kind: Service\n").unwrap();
        std::fs::write(d.join("notes.txt"), "x").unwrap();
        let mut f = Files::new(vec![d.clone()], Pick::Manifests);
        let (inputs, failed) = f.relist();
        assert!(failed.is_empty());
        let got: Vec<String> = inputs.iter().map(|i| i.name.to_string()).collect();
        let n = |s: &str| d.join(s).display().to_string();
        assert_eq!(got, vec![n("a.yaml"), n("b.yaml")]);
        assert!(inputs.iter().all(|i| i.from_directory));
        // Nothing moved: nothing to say.
        assert!(f.changes(None).0.is_empty());
        std::fs::write(d.join("a.yaml"), "kind: Service\nmetadata: {}\n").unwrap();
        std::fs::rename(d.join("b.yaml"), d.join("c.yaml")).unwrap();
        let (c, _) = f.changes(None);
        assert_eq!(
            names(&c),
            vec![
                format!("put {}", n("a.yaml")),
                format!("remove {}", n("b.yaml")),
                format!("put {}", n("c.yaml"))
            ]
        );
        // Named paths: only those are looked at.
        std::fs::remove_file(d.join("c.yaml")).unwrap();
        std::fs::write(d.join("a.yaml"), "kind: Service\n").unwrap();
        let (c, _) = f.changes(Some([d.join("c.yaml")].into()));
        assert_eq!(names(&c), vec![format!("remove {}", n("c.yaml"))]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// `sed -i` writes a temporary file and renames it over the input: the
    /// watcher names the input, and the temporary file's half of the
    /// rename does not send the source to look at every file.
    #[test]
    fn a_rename_over_an_input_names_only_the_input() {
        let d = tmp("rename");
        std::fs::write(d.join("a.yaml"), "kind: Service\n").unwrap();
        let mut files = Files::new(vec![d.clone()], Pick::Manifests);
        files.relist();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Seen>();
        let _w = watch(&files, tx).unwrap();
        std::fs::write(d.join("sedAbC123"), "kind: Service\nmetadata: {}\n").unwrap();
        std::fs::rename(d.join("sedAbC123"), d.join("a.yaml")).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let mut seen = Vec::new();
        while let Ok(s) = rx.try_recv() {
            seen.push(match s {
                Seen::Paths(ps) => format!("{ps:?}"),
                Seen::Everything => "everything".to_string(),
            });
        }
        // (The rename's second half and the pair both name it.)
        let input = format!("{:?}", vec![d.join("a.yaml")]);
        assert!(
            !seen.is_empty() && seen.iter().all(|s| *s == input),
            "{seen:?}"
        );
        // With an input that is a link, any rename looks at everything.
        std::os::unix::fs::symlink(d.join("a.yaml"), d.join("l.yaml")).unwrap();
        let mut files = Files::new(vec![d.clone()], Pick::Manifests);
        files.relist();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Seen>();
        let _w = watch(&files, tx).unwrap();
        std::fs::write(d.join("tmp"), "x").unwrap();
        std::fs::rename(d.join("tmp"), d.join("tmp2")).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let mut everything = false;
        while let Ok(s) = rx.try_recv() {
            everything |= matches!(s, Seen::Everything);
        }
        assert!(everything);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// The notify path: a file written in a watched directory reaches the
    /// loop as a Changes event naming it.
    #[tokio::test(flavor = "current_thread")]
    async fn inotify_events_become_changes() {
        let d = tmp("notify");
        std::fs::write(d.join("a.yaml"), "kind: Service\n").unwrap();
        let (tx, mut rx) = super::super::source::channel();
        let files = Files::new(vec![d.clone()], Pick::Manifests);
        // A poll interval far longer than the test: only inotify can be in time.
        let task = tokio::spawn(run(files, Duration::from_secs(3600), false, tx));
        match rx.recv().await {
            Some(SourceEvent::Relist(i)) => assert_eq!(i.len(), 1),
            other => panic!("expected a relist, got {other:?}"),
        }
        // Let the watch start before writing.
        tokio::time::sleep(Duration::from_millis(100)).await;
        std::fs::write(d.join("b.yaml"), "kind: Service\n").unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("no event within 5 s");
        match ev {
            Some(SourceEvent::Changes(c)) => assert_eq!(
                names(&c),
                vec![format!("put {}", d.join("b.yaml").display())]
            ),
            other => panic!("expected changes, got {other:?}"),
        }
        task.abort();
        std::fs::remove_dir_all(&d).unwrap();
    }
}
