//! The seam between where the agent's inputs come from and the sync loop.
//!
//! A source (the watched directory, `source_files`; the Kubernetes API,
//! `source_api`) runs as a task of its own and sends [`SourceEvent`]s
//! through a `tokio::sync::mpsc::Sender<SourceEvent>`. The sync loop feeds
//! them to libsvc's incremental engine and programs the kernel with the
//! delta. A source never touches the kernel; the loop never reads a file
//! or the API.
//!
//! Contract:
//! - the first event is a [`SourceEvent::Relist`] (the whole state at
//!   start-up); the loop programs nothing before it;
//! - [`SourceEvent::Changes`] name inputs by [`libsvc::parse::Input::name`]:
//!   a `Put` replaces the input of that name (or adds it), a `Remove` drops
//!   it; a source that lost track (a broken watch, an expired resource
//!   version) sends a new `Relist` instead;
//! - [`SourceEvent::Failed`] reports what could not be read, naming it; the
//!   loop keeps the last good state of everything and logs it;
//! - when the source ends (its sender dropped), the agent stops.

/// What a source tells the sync loop.
#[derive(Debug)]
pub enum SourceEvent {
    /// Inputs added, replaced or removed since the last event.
    Changes(Vec<libsvc::incremental::Change>),
    /// The source's whole state again (start-up, relist after a broken watch): replaces every input.
    Relist(Vec<libsvc::parse::Input>),
    /// The source could not read something; the last good state stays.
    Failed(String),
}

/// The sending end a source is given.
pub type Sender = tokio::sync::mpsc::Sender<SourceEvent>;

/// The receiving end the sync loop reads.
pub type Receiver = tokio::sync::mpsc::Receiver<SourceEvent>;

/// How many events may wait for the sync loop before a source waits too.
/// Sources batch what they see, so a handful is plenty.
pub const CHANNEL_CAPACITY: usize = 64;

/// A new channel between a source and the sync loop.
pub fn channel() -> (Sender, Receiver) {
    tokio::sync::mpsc::channel(CHANNEL_CAPACITY)
}
