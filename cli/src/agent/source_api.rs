//! `svcgen agent --source api`: the agent's inputs from the Kubernetes API,
//! watched as kube-proxy watches them.
//!
//! kube-proxy's informers (`cmd/kube-proxy/app/server.go`,
//! `ProxyServer.Run`) list and watch:
//! - Services and EndpointSlices with the label selector
//!   `!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name`
//!   (objects for another proxy, and headless Services' slices, are never
//!   sent to it);
//! - ServiceCIDRs (networking.k8s.io/v1), with the same selector;
//! - its own Node only, by the field selector `metadata.name=NODE`.
//!
//! Each object becomes one input of JSON text named
//! `cluster:PLURAL/NAMESPACE/NAME` (cluster-scoped: `cluster:PLURAL/NAME`),
//! so an event is one [`Change`] of libsvc's incremental engine. Events are
//! batched as kube-proxy's `BoundedFrequencyRunner` batches syncs: the first
//! change after a quiet spell is sent at once, then at most one batch per
//! `minSyncPeriod`.
//!
//! kube-rs's watcher relists on its own when a watch breaks or its
//! resourceVersion expired (410 Gone); the objects it had stay here until
//! the new list is complete, which is then compared with what the agent
//! has and sent as the difference: the ruleset is never dropped in between,
//! and a relist costs the kernel only what really changed. The first list
//! is one [`SourceEvent::Relist`].

use super::source::{Sender, SourceEvent};
use crate::cluster::{self, ClusterError, Resource, Verb};
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use libsvc::incremental::Change;
use libsvc::parse::Input;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// kube-proxy's informer label selector (`labels.Selector.String()` sorts
/// the requirements by key).
pub const PROXY_LABEL_SELECTOR: &str =
    "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name";

/// Where and what to watch.
#[derive(Debug, Clone)]
pub struct ApiSource {
    /// `--kubeconfig`; without it, the Pod's in-cluster config.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// The node this agent runs for (its Node is watched).
    pub node_name: String,
    /// kube-proxy's `minSyncPeriod`: the least time between two batches.
    pub min_sync_period: Duration,
    /// The first delay after a failed list or watch (kube-rs's default
    /// backoff: 800ms doubling to 30s).
    pub initial_backoff: Duration,
}

impl ApiSource {
    pub fn new(node_name: String) -> Self {
        ApiSource {
            kubeconfig: None,
            context: None,
            node_name,
            min_sync_period: Duration::from_secs(1),
            initial_backoff: Duration::from_millis(800),
        }
    }
}

/// The API source for `svcgen agent --source api`: `--kubeconfig` and
/// `--context` (in-cluster config without them), the node from
/// `--node-name`, else the host's name, trimmed and lower-cased as
/// kube-proxy's `nodeutil.GetHostname` does.
pub fn from_args(
    input: &crate::inputs::InputArgs,
    min_sync_period: Duration,
) -> Result<ApiSource, String> {
    let node = match &input.node_name {
        Some(n) => n.clone(),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map_err(|e| format!("--source api: no --node-name and no hostname: {e}"))?,
    };
    let node = node.trim().to_lowercase();
    if node.is_empty() {
        return Err("--source api: empty node name; give --node-name".into());
    }
    Ok(ApiSource {
        kubeconfig: input.kubeconfig.clone(),
        context: input.context.clone(),
        min_sync_period,
        ..ApiSource::new(node)
    })
}

/// One watched kind and how it is selected.
struct Watched {
    resource: Resource,
    labels: Option<&'static str>,
    fields: Option<String>,
}

/// What one watcher said, tagged with its kind.
enum Seen {
    Init(Resource),
    Apply(Resource, Input),
    Delete(Arc<str>),
    InitDone(Resource),
    Failed(String),
}

/// The input name of an object.
pub fn input_name(resource: &Resource, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("cluster:{}/{ns}/{name}", resource.plural),
        _ => format!("cluster:{}/{name}", resource.plural),
    }
}

/// An object as an input: its JSON with apiVersion and kind.
fn object_input(resource: &Resource, o: &DynamicObject) -> Option<Input> {
    let name = input_name(
        resource,
        o.metadata.namespace.as_deref(),
        o.metadata.name.as_deref()?,
    );
    let value = resource.typed(serde_json::to_value(o).ok()?);
    let text = serde_json::to_string_pretty(&value).ok()?;
    Some(Input::new(name, text))
}

/// Runs until `tx` is closed: watches, batches, and sends.
pub async fn run(source: ApiSource, tx: Sender) {
    let client = match cluster::client(&cluster::config::Source {
        kubeconfig: source.kubeconfig.clone(),
        context: source.context.clone(),
        in_cluster: true,
        // Watches are long requests: no timeout of their own.
        request_timeout: None,
    })
    .await
    {
        Ok((c, _)) => c,
        Err(e) => {
            let _ = tx.send(SourceEvent::Failed(e.to_string())).await;
            return;
        }
    };
    let mut watched = vec![
        Watched {
            resource: cluster::SERVICES,
            labels: Some(PROXY_LABEL_SELECTOR),
            fields: None,
        },
        Watched {
            resource: cluster::ENDPOINT_SLICES,
            labels: Some(PROXY_LABEL_SELECTOR),
            fields: None,
        },
        Watched {
            resource: cluster::NODES,
            labels: None,
            fields: Some(format!("metadata.name={}", source.node_name)),
        },
    ];
    // ServiceCIDRs: only on a server that has them and lets us read them.
    match cluster::list::page(&client, &cluster::SERVICE_CIDRS, Some(1), None).await {
        Ok(_) => watched.push(Watched {
            resource: cluster::SERVICE_CIDRS,
            labels: Some(PROXY_LABEL_SELECTOR),
            fields: None,
        }),
        Err(e) if matches!(e.code(), Some(404 | 403)) => {
            tracing::info!(reason = %e.to_string().replace('\n', " "), "not watching ServiceCIDRs");
        }
        Err(e) => {
            let _ = tx.send(SourceEvent::Failed(e.to_string())).await;
        }
    }
    let streams: Vec<_> = watched
        .into_iter()
        .map(|w| {
            let ar = api_resource(&w.resource);
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
            let mut config = watcher::Config::default();
            if let Some(l) = w.labels {
                config = config.labels(l);
            }
            if let Some(f) = &w.fields {
                config = config.fields(f);
            }
            let resource = w.resource;
            let backoff = Doubling::new(source.initial_backoff);
            watcher(api, config)
                .backoff(backoff)
                .map(move |ev| seen(resource, ev))
                .boxed()
        })
        .collect();
    let kinds = streams.len();
    let events = futures::stream::select_all(streams);
    batch(events, source.min_sync_period, kinds, tx).await;
}

/// The retry delays after a failed list or watch: client-go's reflector
/// backoff (`tools/cache/reflector.go`, `NewReflectorWithOptions`: 800ms
/// doubling up to 30s), without its jitter.
struct Doubling {
    first: Duration,
    next: Duration,
}

impl Doubling {
    const MAX: Duration = Duration::from_secs(30);

    fn new(first: Duration) -> Self {
        Doubling { first, next: first }
    }
}

impl Iterator for Doubling {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        Some(d)
    }
}

impl kube::runtime::utils::Backoff for Doubling {
    fn reset(&mut self) {
        self.next = self.first;
    }
}

fn api_resource(r: &Resource) -> ApiResource {
    ApiResource {
        group: r.group.into(),
        version: r.version.into(),
        api_version: r.api_version(),
        kind: r.kind.into(),
        plural: r.plural.into(),
    }
}

fn seen(resource: Resource, ev: Result<watcher::Event<DynamicObject>, watcher::Error>) -> Seen {
    match ev {
        Ok(watcher::Event::Init) => Seen::Init(resource),
        Ok(watcher::Event::InitDone) => Seen::InitDone(resource),
        Ok(watcher::Event::InitApply(o)) | Ok(watcher::Event::Apply(o)) => {
            match object_input(&resource, &o) {
                Some(i) => Seen::Apply(resource, i),
                None => Seen::Failed(format!("a {} without a name", resource.kind)),
            }
        }
        Ok(watcher::Event::Delete(o)) => Seen::Delete(
            input_name(
                &resource,
                o.metadata.namespace.as_deref(),
                o.metadata.name.as_deref().unwrap_or_default(),
            )
            .into(),
        ),
        Err(e) => Seen::Failed(watch_error(e, &resource)),
    }
}

/// A watcher error in kubectl's words (403 names the missing RBAC rule).
fn watch_error(e: watcher::Error, resource: &Resource) -> String {
    let (err, verb) = match e {
        watcher::Error::InitialListFailed(e) => (e, Verb::List),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => (e, Verb::Watch),
        watcher::Error::WatchError(status) => (kube::Error::Api(status), Verb::Watch),
        other => return format!("{}: {other}", resource.plural),
    };
    let e: ClusterError = ClusterError::from_kube(err, resource, verb);
    format!("{}: {e}", resource.plural)
}

/// The state the watchers built, and what changed since the last batch.
#[derive(Default)]
struct Store {
    /// Every object, by input name.
    objects: BTreeMap<Arc<str>, Input>,
    /// Per kind, the objects of a list under way (Init .. InitDone).
    relisting: BTreeMap<&'static str, BTreeMap<Arc<str>, Input>>,
    /// Kinds whose first list is complete.
    synced: BTreeSet<&'static str>,
    /// Names put or removed since the last batch.
    dirty: BTreeSet<Arc<str>>,
    /// A relist completed since the last batch: compare everything.
    relisted: bool,
    /// What the agent has, by input name: the text last sent.
    sent: BTreeMap<Arc<str>, String>,
    /// Nothing sent yet.
    first: bool,
}

impl Store {
    fn see(&mut self, s: Seen) -> Option<String> {
        match s {
            Seen::Init(r) => {
                self.relisting.insert(r.plural, BTreeMap::new());
            }
            Seen::Apply(r, input) => {
                if let Some(buf) = self.relisting.get_mut(r.plural) {
                    buf.insert(input.name.clone(), input);
                } else {
                    self.dirty.insert(input.name.clone());
                    self.objects.insert(input.name.clone(), input);
                }
            }
            Seen::Delete(name) => {
                if self.objects.remove(&name).is_some() {
                    self.dirty.insert(name);
                }
            }
            Seen::InitDone(r) => {
                let fresh = self.relisting.remove(r.plural).unwrap_or_default();
                let prefix = format!("cluster:{}/", r.plural);
                // The new list replaces this kind's objects whole.
                self.objects.retain(|k, _| !k.starts_with(&prefix));
                self.objects.extend(fresh);
                if !self.synced.insert(r.plural) {
                    self.relisted = true;
                }
            }
            Seen::Failed(m) => return Some(m),
        }
        None
    }

    /// The event to send now, if any: the whole state the first time,
    /// then what differs from what was sent (after a relist, every object
    /// is compared, so a relist reaches the agent as a delta too).
    fn take(&mut self, kinds: usize) -> Option<SourceEvent> {
        // Like kube-proxy, program nothing before every informer has synced.
        if self.synced.len() < kinds {
            return None;
        }
        if self.first {
            self.first = false;
            self.relisted = false;
            self.dirty.clear();
            tracing::info!(objects = self.objects.len(), "listed from the API");
            self.sent = self
                .objects
                .iter()
                .map(|(n, i)| (n.clone(), i.text.clone()))
                .collect();
            return Some(SourceEvent::Relist(
                self.objects.values().cloned().collect(),
            ));
        }
        let names: BTreeSet<Arc<str>> = if std::mem::take(&mut self.relisted) {
            tracing::info!(objects = self.objects.len(), "relisted from the API");
            self.dirty.clear();
            self.objects
                .keys()
                .chain(self.sent.keys())
                .cloned()
                .collect()
        } else {
            std::mem::take(&mut self.dirty)
        };
        let mut changes = Vec::new();
        for n in names {
            match (self.objects.get(&n), self.sent.get(&n)) {
                (Some(i), Some(t)) if i.text == *t => {}
                (Some(i), _) => {
                    self.sent.insert(n, i.text.clone());
                    changes.push(Change::Put(i.clone()));
                }
                (None, Some(_)) => {
                    self.sent.remove(&n);
                    changes.push(Change::Remove(n));
                }
                (None, None) => {}
            }
        }
        (!changes.is_empty()).then_some(SourceEvent::Changes(changes))
    }
}

/// Batches the watchers' events: at most one batch per `min_sync`, the
/// first change after a quiet spell at once (`BoundedFrequencyRunner`).
async fn batch(
    mut events: impl futures::Stream<Item = Seen> + Unpin,
    min_sync: Duration,
    kinds: usize,
    tx: Sender,
) {
    let mut store = Store {
        first: true,
        ..Store::default()
    };
    let mut last_sent: Option<Instant> = None;
    let mut due: Option<Instant> = None;
    loop {
        let wait = async {
            match due {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = events.next() => {
                let Some(ev) = ev else { return };
                if let Some(msg) = store.see(ev) {
                    if tx.send(SourceEvent::Failed(msg)).await.is_err() {
                        return;
                    }
                    continue;
                }
                if due.is_none() {
                    let earliest = last_sent.map_or_else(Instant::now, |t| t + min_sync);
                    due = Some(earliest.max(Instant::now()));
                }
            }
            _ = wait => {
                due = None;
                if let Some(ev) = store.take(kinds) {
                    last_sent = Some(Instant::now());
                    if tx.send(ev).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
