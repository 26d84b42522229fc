//! A fake kube-apiserver in the test process: the HTTP list/watch protocol
//! of the real one, over plain http on 127.0.0.1, for the kinds svcgen reads.
//!
//! - `GET /api/v1/services` (and `/apis/GROUP/VERSION/PLURAL`): a list,
//!   `{"kind":"ServiceList","metadata":{"resourceVersion":…,"continue":…},"items":[…]}`,
//!   items without apiVersion/kind, paged by `limit` / `continue`,
//!   filtered by `labelSelector` / `fieldSelector` (`metadata.name=`).
//! - `?watch=true&resourceVersion=N`: a chunked stream of JSON lines
//!   `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":…}` from
//!   after N; a compacted N gets an ERROR event with a 410 Status
//!   ("too old resource version"), as the real server sends it.
//! - `GET /api/v1/namespaces/NS/PLURAL/NAME`, `/api/v1/nodes/NAME`: one object.
//! - Failures on demand: 403 with a Status body (RBAC), 404 for a resource
//!   the server lacks, slow answers, watches broken by the server, expired
//!   continue tokens.

#![allow(dead_code)]

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// A kind the fake server serves.
#[derive(Clone, Copy, Debug)]
struct Kind {
    plural: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    namespaced: bool,
}

const KINDS: &[Kind] = &[
    Kind {
        plural: "services",
        group: "",
        version: "v1",
        kind: "Service",
        namespaced: true,
    },
    Kind {
        plural: "endpointslices",
        group: "discovery.k8s.io",
        version: "v1",
        kind: "EndpointSlice",
        namespaced: true,
    },
    Kind {
        plural: "pods",
        group: "",
        version: "v1",
        kind: "Pod",
        namespaced: true,
    },
    Kind {
        plural: "nodes",
        group: "",
        version: "v1",
        kind: "Node",
        namespaced: false,
    },
    Kind {
        plural: "servicecidrs",
        group: "networking.k8s.io",
        version: "v1",
        kind: "ServiceCIDR",
        namespaced: false,
    },
    Kind {
        plural: "configmaps",
        group: "",
        version: "v1",
        kind: "ConfigMap",
        namespaced: true,
    },
];

impl Kind {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.into()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    fn of_object(o: &Value) -> Kind {
        let kind = o["kind"].as_str().unwrap_or_default();
        *KINDS
            .iter()
            .find(|k| k.kind == kind)
            .unwrap_or_else(|| panic!("fake API: unknown kind {kind:?}"))
    }
}

type Key = (&'static str, String, String);

fn key_of(o: &Value) -> Key {
    let k = Kind::of_object(o);
    let ns = if k.namespaced {
        o["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string()
    } else {
        String::new()
    };
    (
        k.plural,
        ns,
        o["metadata"]["name"].as_str().unwrap_or_default().into(),
    )
}

#[derive(Default)]
struct Store {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    /// (resourceVersion, plural, type, object) after each change.
    events: Vec<(u64, &'static str, &'static str, Value)>,
    /// Watches from before this resourceVersion get 410 Gone.
    compacted: u64,
    forbidden: BTreeSet<String>,
    missing: BTreeSet<String>,
    delay: Duration,
    /// Bumped to make the server end every open watch.
    generation: u64,
    /// Continue tokens of this generation or older are expired.
    continue_expired_before: u64,
    /// Every request's path and query, in order.
    requests: Vec<String>,
    /// When set, a request without `Authorization: Bearer TOKEN` gets 401.
    token: Option<String>,
}

struct Shared {
    store: Mutex<Store>,
    /// Wakes the watches: a change, a bookmark or a break.
    notify: tokio::sync::watch::Sender<u64>,
    bookmark: tokio::sync::watch::Sender<u64>,
}

/// A fake API server; stops when dropped.
pub struct FakeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakeApi {
    /// Serves `objects` (each with apiVersion and kind) on 127.0.0.1.
    pub fn start(objects: Vec<Value>) -> FakeApi {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        FakeApi::start_on(listener, objects)
    }

    /// Serves `objects` on a listener bound elsewhere (e.g. in another
    /// network namespace).
    pub fn start_on(listener: std::net::TcpListener, objects: Vec<Value>) -> FakeApi {
        let (notify, _) = tokio::sync::watch::channel(0);
        let (bookmark, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store {
                rv: 1000,
                compacted: 1000,
                ..Store::default()
            }),
            notify,
            bookmark,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // Served by the runtime (no block_on: a test may already run inside one).
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let s = Arc::clone(&shared);
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let s = Arc::clone(&s);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let s = Arc::clone(&s);
                        async move { Ok::<_, Infallible>(handle(s, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let api = FakeApi {
            addr,
            shared,
            runtime: Some(runtime),
        };
        for o in objects {
            api.apply(o);
        }
        // The initial objects are the state a watch starts from, not events.
        let mut st = api.store();
        st.events.clear();
        st.compacted = st.rv;
        drop(st);
        api
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.shared.store.lock().unwrap()
    }

    /// Creates or replaces an object (ADDED or MODIFIED), as a stored
    /// object: a uid, a creationTimestamp and a new resourceVersion.
    pub fn apply(&self, mut o: Value) -> u64 {
        let kind = Kind::of_object(&o);
        let meta = o["metadata"].as_object_mut().expect("metadata");
        if kind.namespaced && !meta.contains_key("namespace") {
            meta.insert("namespace".into(), "default".into());
        }
        let key = key_of(&o);
        let mut st = self.store();
        st.rv += 1;
        let rv = st.rv;
        let old = st.objects.get(&key).cloned();
        let meta = o["metadata"].as_object_mut().expect("metadata");
        let uid = old
            .as_ref()
            .and_then(|o| o["metadata"]["uid"].as_str().map(String::from))
            .unwrap_or_else(|| format!("00000000-0000-4000-8000-{:012}", rv));
        meta.entry("uid").or_insert(uid.into());
        meta.entry("creationTimestamp")
            .or_insert("2026-01-01T00:00:00Z".into());
        meta.insert("resourceVersion".into(), rv.to_string().into());
        let ty = if old.is_some() { "MODIFIED" } else { "ADDED" };
        st.objects.insert(key.clone(), o.clone());
        st.events.push((rv, key.0, ty, o));
        drop(st);
        self.shared.notify.send_replace(rv);
        rv
    }

    /// Deletes an object (DELETED); `ns` is "" for a cluster-scoped kind.
    pub fn delete(&self, kind: &str, ns: &str, name: &str) {
        let plural = KINDS.iter().find(|k| k.kind == kind).unwrap().plural;
        let mut st = self.store();
        let Some(mut o) = st.objects.remove(&(plural, ns.into(), name.into())) else {
            return;
        };
        st.rv += 1;
        let rv = st.rv;
        o["metadata"]["resourceVersion"] = rv.to_string().into();
        st.events.push((rv, plural, "DELETED", o));
        drop(st);
        self.shared.notify.send_replace(rv);
    }

    /// The stored objects, in the order a list returns them.
    pub fn objects(&self) -> Vec<Value> {
        let st = self.store();
        // Lists come kind by kind in the order svcgen lists them.
        let mut out = Vec::new();
        for k in KINDS {
            out.extend(
                st.objects
                    .iter()
                    .filter(|(key, _)| key.0 == k.plural)
                    .map(|(_, v)| v.clone()),
            );
        }
        out
    }

    /// Forgets the event history: a watch from an older resourceVersion
    /// gets 410 Gone, and open watches are ended so that they resume.
    pub fn compact(&self) {
        let mut st = self.store();
        // As if some other object was written: every watch is now behind.
        st.rv += 1;
        st.events.clear();
        st.compacted = st.rv;
        st.continue_expired_before = st.generation + 1;
        drop(st);
        self.break_watches();
    }

    /// Every continue token handed out so far, or later, is expired (410).
    pub fn expire_continue_tokens(&self) {
        self.store().continue_expired_before = u64::MAX;
    }

    /// Ends every open watch (as an apiserver restart or a load balancer does).
    pub fn break_watches(&self) {
        let mut st = self.store();
        st.generation += 1;
        drop(st);
        self.shared.notify.send_modify(|_| {});
    }

    /// Sends a BOOKMARK to the open watches that asked for them.
    pub fn bookmark(&self) {
        self.shared.bookmark.send_modify(|n| *n += 1);
    }

    /// 403 on `plural` (list, watch and get).
    pub fn forbid(&self, plural: &str) {
        self.store().forbidden.insert(plural.into());
    }

    /// Lifts [`FakeApi::forbid`].
    pub fn allow(&self, plural: &str) {
        self.store().forbidden.remove(plural);
    }

    /// 404 on `plural` (a server without that API).
    pub fn remove_api(&self, plural: &str) {
        self.store().missing.insert(plural.into());
    }

    /// Answers 401 Unauthorized unless a request bears `token`.
    pub fn require_token(&self, token: &str) {
        self.store().token = Some(token.into());
    }

    /// Every answer waits this long first.
    pub fn set_delay(&self, d: Duration) {
        self.store().delay = d;
    }

    /// The requests so far, `PATH?QUERY`.
    pub fn requests(&self) -> Vec<String> {
        self.store().requests.clone()
    }

    /// A kubeconfig file for this server, in `dir`.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\n- name: other\n  context:\n    cluster: fake\n    user: tester\ncurrent-context: fake\nusers:\n- name: tester\n  user:\n    token: fake-token\n",
                self.addr
            ),
        )
        .unwrap();
        path
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A response body fed from a channel: whole answers and watch streams alike.
pub struct ChanBody(tokio::sync::mpsc::Receiver<Bytes>);

impl Body for ChanBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

fn respond(code: StatusCode, body: &Value) -> Response<ChanBody> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let _ = tx.try_send(Bytes::from(serde_json::to_vec(body).unwrap()));
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(ChanBody(rx))
        .unwrap()
}

/// A Status object as kube-apiserver sends it.
fn status(code: u16, reason: &str, message: String, details: Value) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "details": details, "code": code})
}

fn query_map(q: Option<&str>) -> BTreeMap<String, String> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), unescape(v))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if let (b'%', Some(v)) = (b[i], hex) {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A label selector's terms: `k`, `!k`, `k=v`, `k==v`, `k!=v`.
fn labels_match(selector: &str, o: &Value) -> bool {
    let labels = &o["metadata"]["labels"];
    selector.split(',').filter(|t| !t.is_empty()).all(|t| {
        if let Some(k) = t.strip_prefix('!') {
            labels.get(k).is_none()
        } else if let Some((k, v)) = t.split_once("!=") {
            labels.get(k).and_then(Value::as_str) != Some(v)
        } else if let Some((k, v)) = t.split_once('=') {
            labels.get(k).and_then(Value::as_str) == Some(v.trim_start_matches('='))
        } else {
            labels.get(t).is_some()
        }
    })
}

fn fields_match(selector: &str, o: &Value) -> bool {
    selector
        .split(',')
        .filter(|t| !t.is_empty())
        .all(|t| match t.split_once('=') {
            Some(("metadata.name", v)) => o["metadata"]["name"].as_str() == Some(v),
            Some(("metadata.namespace", v)) => o["metadata"]["namespace"].as_str() == Some(v),
            _ => false,
        })
}

async fn handle(s: Arc<Shared>, req: Request<Incoming>) -> Response<ChanBody> {
    let path = req.uri().path().to_string();
    let query = query_map(req.uri().query());
    let (delay, token) = {
        let mut st = s.store.lock().unwrap();
        st.requests.push(req.uri().to_string());
        (st.delay, st.token.clone())
    };
    if let Some(t) = token {
        let bearer = format!("Bearer {t}");
        let given = req.headers().get(hyper::header::AUTHORIZATION);
        if given.and_then(|v| v.to_str().ok()) != Some(bearer.as_str()) {
            // kube-apiserver's answer to a bad or missing credential.
            return respond(
                StatusCode::UNAUTHORIZED,
                &status(401, "Unauthorized", "Unauthorized".into(), json!({})),
            );
        }
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    // (group, version, rest)
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest.to_vec()),
        ["apis", g, v, rest @ ..] => (*g, *v, rest.to_vec()),
        _ => return not_found(),
    };
    let (ns, plural, name) = match rest.as_slice() {
        [p] => (None, *p, None),
        [p, n] => (None, *p, Some(*n)),
        ["namespaces", ns, p] => (Some(*ns), *p, None),
        ["namespaces", ns, p, n] => (Some(*ns), *p, Some(*n)),
        _ => return not_found(),
    };
    let Some(kind) = KINDS
        .iter()
        .find(|k| k.plural == plural && k.group == group && k.version == version)
        .copied()
    else {
        return not_found();
    };
    let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let verb = if name.is_some() {
        "get"
    } else if watch {
        "watch"
    } else {
        "list"
    };
    {
        let st = s.store.lock().unwrap();
        if st.missing.contains(plural) {
            drop(st);
            return not_found();
        }
        if st.forbidden.contains(plural) {
            let gr = if group.is_empty() {
                plural.to_string()
            } else {
                format!("{plural}.{group}")
            };
            let scope = match ns {
                Some(ns) => format!("in the namespace \"{ns}\""),
                None => "at the cluster scope".into(),
            };
            let msg = format!(
                "{gr} is forbidden: User \"system:serviceaccount:kube-system:svcgen\" cannot {verb} resource \"{plural}\" in API group \"{group}\" {scope}"
            );
            return respond(
                StatusCode::FORBIDDEN,
                &status(
                    403,
                    "Forbidden",
                    msg,
                    json!({"group": group, "kind": plural}),
                ),
            );
        }
    }
    if let Some(name) = name {
        let st = s.store.lock().unwrap();
        let key = (kind.plural, ns.unwrap_or("").to_string(), name.to_string());
        return match st.objects.get(&key) {
            Some(o) => respond(StatusCode::OK, o),
            None => respond(
                StatusCode::NOT_FOUND,
                &status(
                    404,
                    "NotFound",
                    format!("{plural} \"{name}\" not found"),
                    json!({"name": name, "group": group, "kind": plural}),
                ),
            ),
        };
    }
    let matches = {
        let label = query.get("labelSelector").cloned().unwrap_or_default();
        let field = query.get("fieldSelector").cloned().unwrap_or_default();
        let ns = ns.map(String::from);
        move |o: &Value| {
            labels_match(&label, o)
                && fields_match(&field, o)
                && ns
                    .as_deref()
                    .is_none_or(|n| o["metadata"]["namespace"].as_str() == Some(n))
        }
    };
    if watch {
        return watch_stream(s, kind, query, matches);
    }
    list(&s, kind, &query, matches)
}

fn not_found() -> Response<ChanBody> {
    respond(
        StatusCode::NOT_FOUND,
        &status(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            json!({}),
        ),
    )
}

fn strip_type(mut o: Value) -> Value {
    if let Some(m) = o.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
    }
    o
}

fn list(
    s: &Shared,
    kind: Kind,
    query: &BTreeMap<String, String>,
    matches: impl Fn(&Value) -> bool,
) -> Response<ChanBody> {
    let st = s.store.lock().unwrap();
    let all: Vec<&Value> = st
        .objects
        .iter()
        .filter(|(k, v)| k.0 == kind.plural && matches(v))
        .map(|(_, v)| v)
        .collect();
    // A continue token is "GENERATION:RV:OFFSET".
    let (rv, offset) = match query.get("continue") {
        Some(c) => {
            let p: Vec<u64> = c.split(':').filter_map(|x| x.parse().ok()).collect();
            if p.len() != 3 || p[0] < st.continue_expired_before {
                return respond(
                    StatusCode::GONE,
                    &status(
                        410,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into(),
                        json!({}),
                    ),
                );
            }
            (p[1], p[2] as usize)
        }
        None => (st.rv, 0),
    };
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let end = offset.saturating_add(limit).min(all.len());
    let items: Vec<Value> = all[offset.min(end)..end]
        .iter()
        .map(|o| strip_type((*o).clone()))
        .collect();
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if end < all.len() {
        meta["continue"] = format!("{}:{rv}:{end}", st.generation).into();
        meta["remainingItemCount"] = (all.len() - end).into();
    }
    respond(
        StatusCode::OK,
        &json!({"kind": format!("{}List", kind.kind), "apiVersion": kind.api_version(),
                "metadata": meta, "items": items}),
    )
}

fn line(ty: &str, object: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": ty, "object": object})).unwrap();
    v.push(b'\n');
    Bytes::from(v)
}

fn watch_stream(
    s: Arc<Shared>,
    kind: Kind,
    query: BTreeMap<String, String>,
    matches: impl Fn(&Value) -> bool + Send + 'static,
) -> Response<ChanBody> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let from: u64 = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bookmarks = query.get("allowWatchBookmarks").map(String::as_str) == Some("true");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .unwrap_or(1800u64);
    tokio::spawn(async move {
        let mut notify = s.notify.subscribe();
        let mut bookmark = s.bookmark.subscribe();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let (generation, too_old) = {
            let st = s.store.lock().unwrap();
            (st.generation, from != 0 && from < st.compacted)
        };
        if too_old {
            let compacted = s.store.lock().unwrap().compacted;
            let msg = format!("too old resource version: {from} ({compacted})");
            let _ = tx
                .send(line("ERROR", &status(410, "Expired", msg, json!({}))))
                .await;
            return;
        }
        let mut sent = from;
        if from == 0 {
            // resourceVersion 0 / unset: the current state as ADDED events.
            let (objs, rv) = {
                let st = s.store.lock().unwrap();
                let objs: Vec<Value> = st
                    .objects
                    .iter()
                    .filter(|(k, v)| k.0 == kind.plural && matches(v))
                    .map(|(_, v)| v.clone())
                    .collect();
                (objs, st.rv)
            };
            for o in objs {
                if tx.send(line("ADDED", &o)).await.is_err() {
                    return;
                }
            }
            sent = rv;
        }
        loop {
            let batch: Vec<Bytes> = {
                let st = s.store.lock().unwrap();
                if st.generation != generation {
                    return;
                }
                let b = st
                    .events
                    .iter()
                    .filter(|(rv, p, _, o)| *rv > sent && *p == kind.plural && matches(o))
                    .map(|(_, _, ty, o)| line(ty, o))
                    .collect();
                sent = st.rv;
                b
            };
            for b in batch {
                if tx.send(b).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                r = notify.changed() => if r.is_err() { return },
                r = bookmark.changed() => {
                    if r.is_err() { return }
                    if bookmarks {
                        let obj = json!({"kind": kind.kind, "apiVersion": kind.api_version(),
                                         "metadata": {"resourceVersion": sent.to_string()}});
                        if tx.send(line("BOOKMARK", &obj)).await.is_err() { return }
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(ChanBody(rx))
        .unwrap()
}
