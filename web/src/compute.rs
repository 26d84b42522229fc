//! One update of the playground: the manifests and the settings form in,
//! every output, the diagnostics and (on demand) a trace out. Pure: the
//! yew app and the wasm API both call it.

use crate::settings::{FormSettings, Mapped};
use crate::share::TraceForm;
use crate::text;
use libsvc::render::{Mode, RenderError, Rendered};
use libsvc::table::Protocol;
use libsvc::trace::{Packet, TraceResult};
use libsvc::{Diagnostic, Input, Loaded, Severity};
use serde::Serialize;
use std::cell::RefCell;

/// The name diagnostics give the editor's text.
pub const INPUT_NAME: &str = "manifests.yaml";

/// A diagnostic, placed in the editor (UTF-16 offset) when it has a place.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diag {
    /// `error`, `warning` or `info`.
    pub severity: Severity,
    /// The message.
    pub message: String,
    /// The field path (or settings field) it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The object, as `Kind namespace/name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Where it comes from: `manifests`, `settings` or a mode name.
    pub source: String,
    /// 1-based line in the editor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column in characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The position as a UTF-16 offset into the editor's text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
}

impl Diag {
    fn new(d: &Diagnostic, source: &str, manifests: &str) -> Diag {
        let loc = d.location.as_ref().filter(|l| &*l.file == INPUT_NAME);
        Diag {
            severity: d.severity,
            message: d.message.clone(),
            field: d.field.clone(),
            object: d.object.clone(),
            source: source.to_string(),
            line: loc.map(|l| l.line),
            column: loc.map(|l| l.column),
            offset: loc.map(|l| text::utf16_offset(manifests, l.line, l.column)),
        }
    }
}

/// One mode's output.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Rendered.
    Rendered(Rendered),
    /// The mode is not written yet.
    NotImplemented,
    /// The mode refused the input or options.
    Invalid(String),
    /// The input could not be read, so nothing is rendered.
    Blocked,
    /// Not rendered yet: outputs are rendered when shown (or when the
    /// person pauses), so a keystroke pays for one output, not all.
    Pending,
}

/// Where one update's time went (milliseconds, by the clock the caller
/// gives: libsvc and this module read none).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Reading the YAML (libsvc::parse), only the documents that changed.
    pub parse: f64,
    /// Validating and resolving (libsvc::load_parsed).
    pub load: f64,
    /// The effective settings as YAML, and the diagnostics placed.
    pub rest: f64,
    /// Documents in the text, and how many were read anew.
    pub documents: usize,
    /// Documents read anew (the others' reading was kept).
    pub reparsed: usize,
}

/// What stays between keystrokes: each YAML document of the editor's
/// text and what libsvc read from it, so that a keystroke reads only the
/// document it changed. A document is kept by its text and its first
/// line: an edit that adds or removes lines reads the documents after it
/// again (their positions moved).
#[derive(Debug, Default)]
pub struct Reader {
    docs: Vec<Doc>,
}

#[derive(Debug)]
struct Doc {
    /// 0-based line of its first line in the text.
    start: usize,
    text: String,
    parsed: libsvc::parse::Parsed,
}

/// The editor's text cut at its `---` lines: (first line, text) of each
/// document. `None` when the text must be read whole to be read as the
/// CLI reads it: JSON, YAML directives and `...` ends, templates (said
/// once per input), more anchors or aliases than one document may hold
/// (libsvc counts them per input), or input over the size limit.
fn documents(text: &str) -> Option<Vec<(usize, &str)>> {
    if text.len() > libsvc::parse::MAX_INPUT_BYTES
        || text.contains("{{")
        || text.bytes().filter(|b| *b == b'*' || *b == b'&').count() >= 10_000
    {
        return None;
    }
    let mut out = Vec::new();
    let (mut start_line, mut start_byte, mut at) = (0, 0, 0);
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let l = line.trim_end_matches(['\n', '\r']);
        if l.starts_with('%') || l.starts_with("...") {
            return None;
        }
        let marker = l == "---" || l.starts_with("--- ") || l.starts_with("---\t");
        if marker && n > 0 {
            out.push((start_line, &text[start_byte..at]));
            (start_line, start_byte) = (n, at);
        }
        at += line.len();
    }
    out.push((start_line, &text[start_byte..]));
    Some(out)
}

impl Reader {
    /// Reads the text as `libsvc::parse::parse` reads it as one input,
    /// reading again only the documents that changed since the last call.
    /// Each document is read as an input of its own, padded with empty
    /// lines so that positions are the text's; if any of them has an
    /// error, the whole text is read again as one input, so that errors
    /// are exactly the CLI's.
    pub fn parse(&mut self, text: &str) -> (libsvc::parse::Parsed, usize, usize) {
        use libsvc::parse::{Parsed, parse, skipped_summary};
        let whole = |reader: &mut Reader| {
            reader.docs.clear();
            (parse(&[Input::new(INPUT_NAME, text)]), 1, 1)
        };
        let Some(docs) = documents(text).filter(|d| d.len() > 1) else {
            return whole(self);
        };
        let mut old: std::collections::HashMap<(usize, String), Parsed> = self
            .docs
            .drain(..)
            .map(|d| ((d.start, d.text), d.parsed))
            .collect();
        let misses = docs
            .iter()
            .filter(|(start, t)| !old.contains_key(&(*start, t.to_string())))
            .count();
        if misses > MAX_REREAD {
            // Many documents to read (a paste, a line added near the top):
            // reading the whole text once costs less than one by one; what
            // each document gave is kept from it.
            let (whole, _, _) = whole(self);
            if let Some(parts) = split(&docs, &whole) {
                self.docs = docs
                    .iter()
                    .zip(parts)
                    .map(|((start, t), parsed)| Doc {
                        start: *start,
                        text: t.to_string(),
                        parsed,
                    })
                    .collect();
            }
            return (whole, docs.len(), docs.len());
        }
        let mut reparsed = 0;
        for (start, t) in &docs {
            let parsed = match old.remove(&(*start, t.to_string())) {
                Some(p) => p,
                None => {
                    reparsed += 1;
                    let mut padded = "\n".repeat(*start);
                    padded.push_str(t);
                    let mut p = parse(&[Input::new(INPUT_NAME, padded)]);
                    // The summary of skipped objects is said once, for the whole text.
                    if !p.skipped.is_empty() {
                        p.diagnostics.pop();
                    }
                    p
                }
            };
            self.docs.push(Doc {
                start: *start,
                text: t.to_string(),
                parsed,
            });
        }
        if self
            .docs
            .iter()
            .any(|d| d.parsed.diagnostics.iter().any(Diagnostic::is_error))
        {
            return whole(self);
        }
        let mut all = Parsed::default();
        for d in &self.docs {
            let (o, p) = (&mut all.objects, &d.parsed.objects);
            o.services.extend_from_slice(&p.services);
            o.endpoints.extend_from_slice(&p.endpoints);
            o.endpoint_slices.extend_from_slice(&p.endpoint_slices);
            o.pods.extend_from_slice(&p.pods);
            o.nodes.extend_from_slice(&p.nodes);
            o.service_cidrs.extend_from_slice(&p.service_cidrs);
            o.proxy_configs.extend_from_slice(&p.proxy_configs);
            o.workloads.extend_from_slice(&p.workloads);
            all.diagnostics.extend_from_slice(&d.parsed.diagnostics);
            all.skipped.extend_from_slice(&d.parsed.skipped);
        }
        all.diagnostics.extend(skipped_summary(&all.skipped));
        (all, docs.len(), reparsed)
    }
}

/// Beyond this many documents to read again, the whole text is read.
const MAX_REREAD: usize = 8;

/// Cuts what the whole text gave into what each document gives: objects,
/// diagnostics and skipped objects by the line they start on. `None`
/// when that is not a cut of the whole in order (an error, a diagnostic
/// without a place, one out of document order): such text is read whole.
fn split(
    docs: &[(usize, &str)],
    whole: &libsvc::parse::Parsed,
) -> Option<Vec<libsvc::parse::Parsed>> {
    if whole.diagnostics.iter().any(Diagnostic::is_error) {
        return None;
    }
    // 1-based first line of each document.
    let starts: Vec<u32> = docs.iter().map(|(s, _)| *s as u32 + 1).collect();
    let doc_of = |line: u32| starts.partition_point(|s| *s <= line).checked_sub(1);
    let mut parts = vec![libsvc::parse::Parsed::default(); docs.len()];
    // Places each item in its document, in order: the documents' items,
    // one after another, are the whole's.
    fn place<T: Clone>(
        items: &[T],
        line: impl Fn(&T) -> Option<u32>,
        doc_of: &impl Fn(u32) -> Option<usize>,
        parts: &mut [libsvc::parse::Parsed],
        into: impl Fn(&mut libsvc::parse::Parsed) -> &mut Vec<T>,
    ) -> Option<()> {
        let mut last = 0;
        for item in items {
            let d = doc_of(line(item)?)?;
            if d < last {
                return None;
            }
            last = d;
            into(&mut parts[d]).push(item.clone());
        }
        Some(())
    }
    let o = &whole.objects;
    place(
        &o.services,
        |x| Some(x.origin.pos.line),
        &doc_of,
        &mut parts,
        |p| &mut p.objects.services,
    )?;
    place(
        &o.endpoints,
        |x| Some(x.origin.pos.line),
        &doc_of,
        &mut parts,
        |p| &mut p.objects.endpoints,
    )?;
    place(
        &o.endpoint_slices,
        |x| Some(x.origin.pos.line),
        &doc_of,
        &mut parts,
        |p| &mut p.objects.endpoint_slices,
    )?;
    place(
        &o.pods,
        |x| Some(x.origin.pos.line),
        &doc_of,
        &mut parts,
        |p| &mut p.objects.pods,
    )?;
    place(
        &o.nodes,
        |x| Some(x.origin.pos.line),
        &doc_of,
        &mut parts,
        |p| &mut p.objects.nodes,
    )?;
    place(
        &o.service_cidrs,
        |x| Some(x.origin.pos.line),
        &doc_of,
        &mut parts,
        |p| &mut p.objects.service_cidrs,
    )?;
    place(
        &o.proxy_configs,
        |x| Some(x.origin.pos.line),
        &doc_of,
        &mut parts,
        |p| &mut p.objects.proxy_configs,
    )?;
    place(
        &o.workloads,
        |x| Some(x.origin.pos.line),
        &doc_of,
        &mut parts,
        |p| &mut p.objects.workloads,
    )?;
    // The summary of skipped objects is the whole text's last word.
    let mut diagnostics = whole.diagnostics.as_slice();
    if !whole.skipped.is_empty() {
        diagnostics = diagnostics.split_last()?.1;
    }
    place(
        diagnostics,
        |d| d.location.as_ref().map(|l| l.line),
        &doc_of,
        &mut parts,
        |p| &mut p.diagnostics,
    )?;
    place(
        &whole.skipped,
        |x| Some(x.location.line),
        &doc_of,
        &mut parts,
        |p| &mut p.skipped,
    )?;
    Some(parts)
}

/// Everything one update produces. The modes' outputs are rendered on
/// first use ([`Outputs::get`], [`Outputs::fill`]).
#[derive(Debug)]
pub struct Outputs {
    /// What libsvc read.
    pub loaded: Loaded,
    /// The settings as mapped.
    pub mapped: Mapped,
    /// One output per [`Mode::ALL`], in that order.
    modes: RefCell<Vec<(Mode, Output)>>,
    /// The effective settings as YAML.
    pub settings: String,
    /// The input's and the settings form's diagnostics.
    base: Vec<Diag>,
    /// The text, to place the outputs' diagnostics.
    manifests: String,
    /// Where the time went.
    pub timings: Timings,
}

impl Outputs {
    /// The output of `mode`, rendered now if it was not yet.
    pub fn get(&self, mode: Mode) -> Output {
        let mut modes = self.modes.borrow_mut();
        let Some((_, out)) = modes.iter_mut().find(|(m, _)| *m == mode) else {
            return Output::Blocked;
        };
        if *out == Output::Pending {
            *out = render(&self.loaded, &self.mapped, mode);
        }
        out.clone()
    }

    /// Looks at `mode`'s output without rendering it.
    pub fn peek<R>(&self, mode: Mode, f: impl FnOnce(&Output) -> R) -> R {
        let modes = self.modes.borrow();
        let out = modes
            .iter()
            .find(|(m, _)| *m == mode)
            .map(|(_, o)| o)
            .unwrap_or(&Output::Blocked);
        f(out)
    }

    /// Renders every output not rendered yet.
    pub fn fill(&self) {
        for mode in Mode::ALL {
            self.peek(mode, |o| *o == Output::Pending)
                .then(|| self.get(mode));
        }
    }

    /// Renders the first output not rendered yet; whether more are left.
    pub fn fill_one(&self) -> bool {
        if let Some(mode) = Mode::ALL
            .into_iter()
            .find(|m| self.peek(*m, |o| *o == Output::Pending))
        {
            self.get(mode);
        }
        self.pending()
    }

    /// Whether some output is not rendered yet.
    pub fn pending(&self) -> bool {
        self.modes
            .borrow()
            .iter()
            .any(|(_, o)| *o == Output::Pending)
    }

    /// `mode`'s model as JSON (rendered anew with the JSON model).
    pub fn json(&self, mode: Mode) -> Option<String> {
        let mut options = self.mapped.options.clone();
        options.json = true;
        if self.loaded.has_parse_errors() {
            return None;
        }
        libsvc::render::render(&self.loaded, mode, &options)
            .ok()
            .map(|r| serde_json::to_string_pretty(&r.json).unwrap_or_default())
    }

    /// Diagnostics: the input's, the settings form's, then those of the
    /// outputs rendered so far.
    pub fn diagnostics(&self) -> Vec<Diag> {
        let mut out = self.base.clone();
        for (mode, o) in self.modes.borrow().iter() {
            if let Output::Rendered(r) = o {
                out.extend(
                    r.diagnostics
                        .iter()
                        .map(|d| Diag::new(d, mode.name(), &self.manifests)),
                );
            }
        }
        out
    }

    /// Number of diagnostics of a severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics()
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }
}

/// Loads the manifests with the settings.
pub fn load(manifests: &str, settings: &FormSettings) -> (Loaded, Mapped) {
    let mapped = settings.map();
    let loaded = libsvc::load(&[Input::new(INPUT_NAME, manifests)], &mapped.overrides);
    (loaded, mapped)
}

/// Renders one mode of loaded input, as the CLI would: nothing when the
/// input could not be read.
pub fn render(loaded: &Loaded, mapped: &Mapped, mode: Mode) -> Output {
    if loaded.has_parse_errors() {
        return Output::Blocked;
    }
    match libsvc::render::render(loaded, mode, &mapped.options) {
        Ok(r) => Output::Rendered(r),
        Err(RenderError::NotImplemented(_)) => Output::NotImplemented,
        Err(e) => Output::Invalid(e.to_string()),
    }
}

/// One update: loads the input; outputs are rendered when first asked for
/// (text only: the JSON models on demand, [`Outputs::json`]).
pub fn compute_lazy(manifests: &str, settings: &FormSettings) -> Outputs {
    update(&mut Reader::default(), manifests, settings, &|| 0.0)
}

/// One update of the page: as [`compute_lazy`], reading only the
/// documents that changed since the `reader`'s last update, and timed by
/// `clock` (milliseconds).
pub fn update(
    reader: &mut Reader,
    manifests: &str,
    settings: &FormSettings,
    clock: &dyn Fn() -> f64,
) -> Outputs {
    let t0 = clock();
    let (parsed, documents, reparsed) = reader.parse(manifests);
    let t1 = clock();
    let mut mapped = settings.map();
    let loaded = libsvc::load_parsed(parsed, &mapped.overrides);
    let t2 = clock();
    mapped.options.json = false;
    let blocked = loaded.has_parse_errors();
    let modes: Vec<(Mode, Output)> = Mode::ALL
        .into_iter()
        .map(|m| {
            (
                m,
                if blocked {
                    Output::Blocked
                } else {
                    Output::Pending
                },
            )
        })
        .collect();
    let mut base: Vec<Diag> = loaded
        .diagnostics
        .iter()
        .map(|d| Diag::new(d, "manifests", manifests))
        .collect();
    base.extend(
        mapped
            .diagnostics
            .iter()
            .map(|d| Diag::new(d, "settings", manifests)),
    );
    let settings = serde_saphyr::to_string(&loaded.settings).unwrap_or_default();
    let timings = Timings {
        parse: t1 - t0,
        load: t2 - t1,
        rest: clock() - t2,
        documents,
        reparsed,
    };
    Outputs {
        loaded,
        mapped,
        modes: RefCell::new(modes),
        settings,
        base,
        manifests: manifests.to_string(),
        timings,
    }
}

/// One full update: every mode rendered, the diagnostics complete.
pub fn compute(manifests: &str, settings: &FormSettings) -> Outputs {
    let out = compute_lazy(manifests, settings);
    out.fill();
    out
}

/// A Service address the trace form offers: one per Service port and
/// address (cluster IPs, external IPs, load-balancer ingress IPs).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// `namespace/name`.
    pub service: String,
    /// The port's name (may be empty).
    pub port_name: String,
    /// The address.
    pub ip: std::net::IpAddr,
    /// The Service port.
    pub port: u16,
    /// The protocol.
    pub protocol: Protocol,
    /// What kind of address: `clusterIP`, `externalIP`, `loadBalancer`.
    pub kind: &'static str,
}

impl Target {
    /// A key that survives edits of the addresses: Service, port name, kind.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.service,
            self.port_name,
            self.protocol.lower(),
            self.kind
        )
    }

    /// As the menu shows it.
    pub fn label(&self) -> String {
        let port = if self.port_name.is_empty() {
            self.port.to_string()
        } else {
            format!("{} ({})", self.port, self.port_name)
        };
        let ip = std::net::SocketAddr::new(self.ip, 0).ip();
        let addr = if ip.is_ipv6() {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        format!(
            "{} — {addr}:{port}/{} ({})",
            self.service,
            self.protocol.lower(),
            self.kind
        )
    }
}

/// Every Service address and port a packet can be sent to, in table order.
pub fn targets(loaded: &Loaded) -> Vec<Target> {
    let mut out = Vec::new();
    for svc in &loaded.table.services {
        let mut addrs: Vec<(std::net::IpAddr, &'static str)> = svc
            .cluster_ips
            .iter()
            .map(|ip| (*ip, "clusterIP"))
            .collect();
        addrs.extend(
            svc.external_ips
                .iter()
                .filter_map(|s| s.parse().ok())
                .map(|ip| (ip, "externalIP")),
        );
        addrs.extend(svc.lb_ingress.iter().map(|i| (i.ip, "loadBalancer")));
        for (ip, kind) in addrs {
            for p in &svc.ports {
                out.push(Target {
                    service: format!("{}/{}", svc.namespace, svc.name),
                    port_name: p.name.clone(),
                    ip,
                    port: p.port,
                    protocol: p.protocol,
                    kind,
                });
            }
        }
    }
    out
}

/// Reads the destination: an IP address, or a DNS name answered as CoreDNS
/// would for a pod of `namespace` (libsvc::dns::resolve, which follows the
/// pod's resolv.conf search list), its first address.
fn destination(loaded: &Loaded, s: &str, namespace: &str) -> Result<std::net::IpAddr, String> {
    use libsvc::dns::query::QueryType;
    use libsvc::dns::record::{RData, RecordType};
    let s = s.trim();
    if let Ok(ip) = s.parse() {
        return Ok(ip);
    }
    if s.is_empty() {
        return Err("destination: empty; give an IP address or a DNS name".into());
    }
    let mut cname = None;
    for t in [RecordType::A, RecordType::AAAA] {
        let answer = libsvc::dns::resolve(loaded, s, QueryType::Record(t), namespace)
            .map_err(|e| format!("destination: {e}"))?;
        for r in &answer.answer {
            match &r.data {
                RData::A { address } => return Ok((*address).into()),
                RData::AAAA { address } => return Ok((*address).into()),
                RData::CNAME { target } => cname = Some(target.clone()),
                _ => {}
            }
        }
    }
    Err(match cname {
        Some(t) => format!(
            "destination: {s:?} is an alias (CNAME) of {t}, outside the cluster: no proxy rules apply"
        ),
        None => format!(
            "destination: {s:?} is not an IP address, and no Service or pod answers to that name"
        ),
    })
}

/// Reads the port: a number, or the name of a port of the Service at `dst`.
fn port(
    loaded: &Loaded,
    s: &str,
    dst: std::net::IpAddr,
) -> Result<(u16, Option<Protocol>), String> {
    let s = s.trim();
    if let Some(p) = s.parse::<u16>().ok().filter(|p| *p > 0) {
        return Ok((p, None));
    }
    if !s.is_empty() && s.parse::<u64>().is_err() {
        if let Some(t) = targets(loaded)
            .into_iter()
            .find(|t| t.ip == dst && t.port_name == s)
        {
            return Ok((t.port, Some(t.protocol)));
        }
        return Err(format!("port: no Service at {dst} has a port named {s:?}"));
    }
    Err(format!(
        "port: {s:?} is not a port (1-65535) or a Service port's name"
    ))
}

/// Reads the trace form into a packet and a mode; names are resolved in the
/// loaded input (DNS names as seen from a pod of `namespace`).
pub fn packet(
    loaded: &Loaded,
    form: &TraceForm,
    namespace: &str,
) -> Result<(Mode, Packet), String> {
    let mode =
        Mode::parse(form.mode.trim()).ok_or_else(|| format!("unknown mode {:?}", form.mode))?;
    let src = form
        .src
        .trim()
        .parse()
        .map_err(|_| format!("source: {:?} is not an IP address", form.src))?;
    let dst = destination(loaded, &form.dst, namespace)?;
    let (port, named_protocol) = port(loaded, &form.port, dst)?;
    let protocol = Protocol::parse(Some(&form.proto.trim().to_uppercase()))
        .ok_or_else(|| format!("protocol: {:?}: expected tcp, udp or sctp", form.proto))?;
    Ok((
        mode,
        Packet {
            in_interface: None,
            src,
            dst,
            port,
            protocol: named_protocol.unwrap_or(protocol),
        },
    ))
}

/// When the packet goes to a Service's address on a port or protocol the
/// Service does not expose: says so (kube-proxy has no rule for it, so the
/// packet "passes unchanged" and would reach nothing).
pub fn unexposed(loaded: &Loaded, p: &Packet) -> Option<String> {
    let all = targets(loaded);
    let at: Vec<&Target> = all.iter().filter(|t| t.ip == p.dst).collect();
    if at.is_empty()
        || at
            .iter()
            .any(|t| t.port == p.port && t.protocol == p.protocol)
    {
        return None;
    }
    let ports: Vec<String> = at
        .iter()
        .map(|t| format!("{}/{}", t.port, t.protocol.lower()))
        .collect();
    Some(format!(
        "destination {} is an address of Service {} ({}), but port {}/{} is not exposed; its ports: {}",
        p.dst,
        at[0].service,
        at[0].kind,
        p.port,
        p.protocol.lower(),
        ports.join(", ")
    ))
}

/// A trace's answer for the UI: the result, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum Traced {
    /// The packet's path, and a warning when the port is not exposed.
    Done(Packet, TraceResult, Option<String>),
    /// The mode has no tracer yet.
    NotImplemented(Mode),
    /// The form or the input is wrong.
    Failed(String),
}

/// Traces the form's packet through the loaded input.
pub fn trace(loaded: &Loaded, form: &TraceForm, namespace: &str) -> Traced {
    if loaded.has_parse_errors() {
        return Traced::Failed("the manifests have errors; fix them to trace".into());
    }
    let (mode, packet) = match packet(loaded, form, namespace) {
        Ok(x) => x,
        Err(e) => return Traced::Failed(e),
    };
    match libsvc::trace::trace(loaded, mode, &packet) {
        Ok(r) => {
            let warn = unexposed(loaded, &packet);
            Traced::Done(packet, r, warn)
        }
        Err(RenderError::NotImplemented(m)) => Traced::NotImplemented(m),
        Err(e) => Traced::Failed(e.to_string()),
    }
}

/// Where each of a Service's addresses and ports leads: the endpoints and
/// their shares, as the iptables tracer finds them for a new connection
/// from `src` (libsvc::trace::trace; the same filters as the rules).
pub fn service_paths(
    loaded: &Loaded,
    service: &str,
    src: std::net::IpAddr,
) -> Vec<(Target, Vec<libsvc::trace::EndpointShare>)> {
    targets(loaded)
        .into_iter()
        .filter(|t| t.service == service)
        .map(|t| {
            let packet = Packet {
                src,
                dst: t.ip,
                port: t.port,
                protocol: t.protocol,
                in_interface: None,
            };
            let shares = libsvc::trace::trace(loaded, Mode::Iptables, &packet)
                .map(|r| r.endpoints)
                .unwrap_or_default();
            (t, shares)
        })
        .collect()
}

/// A kubectl view of the loaded input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// `kubectl get svc -A`.
    GetSvc,
    /// `kubectl get endpoints -A`.
    GetEndpoints,
    /// `kubectl get endpointslices -A`.
    GetSlices,
    /// `kubectl get pods -A -o wide`: the input's Pods and those simulated
    /// from workloads, which a note names.
    GetPods,
    /// `kubectl describe service`.
    Describe,
}

/// Now, in seconds since the Unix epoch, for AGE: the browser's clock in
/// the page (libsvc reads no clock); none in native unit tests.
fn now() -> Option<i64> {
    #[cfg(target_arch = "wasm32")]
    {
        Some((js_sys::Date::now() / 1000.0) as i64)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        None
    }
}

/// The text of a kubectl view (libsvc::views, as the CLI prints it), and
/// the JSON behind it: the objects as `kubectl get -o json` prints them
/// (`libsvc::views::objects`), or the described Service.
pub fn view(loaded: &Loaded, v: View, service: &str) -> (String, String) {
    use libsvc::views::{self, Namespaces, Query, objects};
    let all = Namespaces::All;
    let query = Query {
        now: now(),
        ..Query::new(Namespaces::All)
    };
    let empty = |t: String| {
        if t.is_empty() {
            views::no_resources(&all)
        } else {
            t
        }
    };
    let json = |items: Vec<serde_json::Value>| objects::to_json(&objects::list(items));
    match v {
        View::GetSvc => (
            empty(views::get_services(loaded, &query)),
            json(objects::services(loaded, &query)),
        ),
        View::GetEndpoints => (
            empty(views::get_endpoints(loaded, &query)),
            json(objects::endpoints(loaded, &query)),
        ),
        View::GetSlices => (
            empty(views::get_endpoint_slices(loaded, &query)),
            json(objects::endpoint_slices(loaded, &query)),
        ),
        View::GetPods => {
            let mut text = empty(views::pods::get_pods(loaded, &all, None, true));
            if let Some(note) = views::pods::simulated_note(loaded, &all, None) {
                text.push('\n');
                text.push_str(&note);
                text.push('\n');
            }
            (text, json(objects::pods(loaded, &query)))
        }
        View::Describe => {
            let (ns, name) = service.split_once('/').unwrap_or(("default", service));
            match (
                views::describe_service(loaded, ns, name),
                loaded.table.get(ns, name),
            ) {
                (Some(t), Some(s)) => (t, serde_json::to_string_pretty(s).unwrap_or_default()),
                _ => (
                    format!("Error from server (NotFound): services \"{name}\" not found\n"),
                    "null".into(),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starter_loads_cleanly() {
        let out = compute(crate::examples::STARTER, &FormSettings::default());
        assert_eq!(out.count(Severity::Error), 0, "{:?}", out.diagnostics());
        assert!(!out.pending());
        assert!(matches!(out.get(Mode::Env), Output::Rendered(_)));
        assert!(out.settings.contains("node-a"));
        let lazy = compute_lazy(crate::examples::STARTER, &FormSettings::default());
        assert!(lazy.pending());
        let one = compute_lazy(crate::examples::STARTER, &FormSettings::default());
        let mut steps = 1;
        while one.fill_one() {
            steps += 1;
        }
        assert_eq!(steps, Mode::ALL.len(), "one output per step");
        assert_eq!(lazy.get(Mode::Env), out.get(Mode::Env));
        assert!(lazy.json(Mode::Env).unwrap().contains("WEB_SERVICE_HOST"));
    }

    /// `n` Services with an EndpointSlice each, in `n` namespaces' worth of
    /// YAML documents (the e2e test's and the benchmark's input).
    pub(crate) fn services(n: usize) -> String {
        (0..n)
            .map(|i| {
                format!(
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: ns-{ns}\nspec:\n  clusterIP: 10.96.{hi}.{lo}\n  selector:\n    app: svc-{i}\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: svc-{i}-a\n  namespace: ns-{ns}\n  labels:\n    kubernetes.io/service-name: svc-{i}\naddressType: IPv4\nports:\n- name: http\n  port: 8080\nendpoints:\n- addresses: [\"10.244.{e}.5\"]\n",
                    ns = i % 10,
                    hi = i / 200 + 2,
                    lo = i % 200 + 1,
                    e = i % 250
                )
            })
            .collect::<Vec<_>>()
            .join("---\n")
    }

    /// What the reader gives is what libsvc::parse::parse gives for the
    /// whole text as one input (libsvc/src/parse/mod.rs, `parse`):
    /// objects, diagnostics (positions included) and skipped objects.
    fn same_as_whole(reader: &mut Reader, text: &str) -> usize {
        let whole = libsvc::parse::parse(&[Input::new(INPUT_NAME, text)]);
        let (got, _, reparsed) = reader.parse(text);
        assert_eq!(got.objects, whole.objects, "objects of {text:?}");
        assert_eq!(
            got.diagnostics, whole.diagnostics,
            "diagnostics of {text:?}"
        );
        assert_eq!(got.skipped, whole.skipped);
        reparsed
    }

    #[test]
    fn a_keystroke_reads_one_document() {
        let mut r = Reader::default();
        let mut text = services(20);
        assert_eq!(same_as_whole(&mut r, &text), 40);
        // A character typed inside a line: that document only.
        let at = text.find("app: svc-7").unwrap() + "app: svc-7".len();
        text.insert(at, '7');
        assert_eq!(same_as_whole(&mut r, &text), 1);
        // A line added: that document and the ones after it (all of them,
        // read as one text, when there are many).
        let at = text.find("app: svc-17").unwrap();
        text.insert_str(at, "tier: web\n    ");
        let after = text[at..].matches("\n---").count();
        assert_eq!(after, 5);
        assert_eq!(same_as_whole(&mut r, &text), after + 1);
        let at = text.find("app: svc-2\n").unwrap();
        text.insert_str(at, "tier: web\n    ");
        assert_eq!(same_as_whole(&mut r, &text), 40);
        // And what the whole text gave is kept per document.
        assert_eq!(same_as_whole(&mut r, &text), 0);
        // Kinds svcgen skips are summed up once, for the whole text.
        text.push_str("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n");
        same_as_whole(&mut r, &text);
        // An error anywhere: the whole text is read as one input.
        let bad = text.replacen("port: 80\n", "port: [\n", 1);
        same_as_whole(&mut r, &bad);
        same_as_whole(&mut r, &text);
        for (name, t) in crate::examples::all() {
            let mut r = Reader::default();
            same_as_whole(&mut r, t);
            assert!(
                same_as_whole(&mut r, t) == 0 || documents(t).is_none_or(|d| d.len() < 2),
                "{name}"
            );
        }
    }

    // (natively only: proptest does not build for wasm32.)
    #[cfg(not(target_arch = "wasm32"))]
    mod edits {
        use super::*;

        proptest::proptest! {
            #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
            /// Any edit of any example (a piece cut out, a piece put in) reads
            /// as the whole text does, before and after.
            #[test]
            fn any_edit_reads_as_the_whole_text(
                example in 0..=crate::examples::all().len(),
                from in 0usize..100_000,
                len in 0usize..40,
                put in "[-a-z: \n\\[\\]{}'\"#&*0-9]{0,12}",
            ) {
                // The examples, and 12 Services (read whole, then kept per document).
                let many = services(12);
                let t = crate::examples::all().get(example).map_or(many.as_str(), |e| e.1);
                let mut r = Reader::default();
                same_as_whole(&mut r, t);
                let mut text = t.to_string();
                let mut a = from % (text.len() + 1);
                while !text.is_char_boundary(a) { a -= 1; }
                let mut b = (a + len).min(text.len());
                while !text.is_char_boundary(b) { b -= 1; }
                text.replace_range(a..b, &put);
                same_as_whole(&mut r, &text);
            }
        }
    }

    #[test]
    fn every_example_reads() {
        for (name, text) in crate::examples::all() {
            let out = compute(text, &FormSettings::default());
            assert!(
                !out.loaded.has_parse_errors(),
                "{name}: {:?}",
                out.diagnostics()
            );
            assert!(Mode::ALL.iter().all(|m| out.get(*m) != Output::Blocked));
        }
    }

    #[test]
    fn diagnostics_are_placed_in_utf16() {
        let text = "# 😀\napiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports: [{port: \"x\"}]\n";
        let out = compute(text, &FormSettings::default());
        let d = out
            .diagnostics()
            .into_iter()
            .find(|d| d.message.contains("spec.ports[0].port"))
            .expect("a port diagnostic");
        let (line, col) = (d.line.unwrap(), d.column.unwrap());
        assert_eq!(line, 6);
        // One UTF-16 unit more than characters: the emoji on line 1.
        let chars_before: usize = text
            .split('\n')
            .take(5)
            .map(|l| l.chars().count() + 1)
            .sum();
        assert_eq!(
            d.offset.unwrap() as usize,
            chars_before + col as usize - 1 + 1
        );
    }

    #[test]
    fn parse_errors_block_outputs() {
        let out = compute("kind: [", &FormSettings::default());
        assert!(out.count(Severity::Error) > 0);
        assert!(Mode::ALL.iter().all(|m| out.get(*m) == Output::Blocked));
    }

    #[test]
    fn bad_trace_form() {
        let (loaded, _) = load(crate::examples::STARTER, &FormSettings::default());
        let form = TraceForm {
            port: "0".into(),
            ..Default::default()
        };
        assert!(
            matches!(trace(&loaded, &form, "default"), Traced::Failed(e) if e.contains("port"))
        );
    }

    // The DNS name goes through libsvc::dns::resolve, which follows CoreDNS'
    // kubernetes plugin (plugin/kubernetes/kubernetes.go, Records) and the
    // pod's search list (pkg/kubelet/network/dns/dns.go, generateSearchesForDNSClusterFirst).
    #[test]
    fn trace_by_dns_name_and_named_port() {
        let (loaded, _) = load(crate::examples::STARTER, &FormSettings::default());
        for dst in ["web", "web.default", "web.default.svc.cluster.local"] {
            let form = TraceForm {
                dst: dst.into(),
                port: "80".into(),
                ..Default::default()
            };
            let (_, p) = packet(&loaded, &form, "default").expect(dst);
            assert_eq!(p.dst.to_string(), "10.96.0.20", "{dst}");
        }
        let t = targets(&loaded);
        let named = t.iter().find(|t| !t.port_name.is_empty());
        if let Some(n) = named {
            let form = TraceForm {
                dst: n.ip.to_string(),
                port: n.port_name.clone(),
                ..Default::default()
            };
            let (_, p) = packet(&loaded, &form, "default").unwrap();
            assert_eq!(p.port, n.port);
        }
        let form = TraceForm {
            dst: "nope".into(),
            ..Default::default()
        };
        assert!(
            matches!(trace(&loaded, &form, "default"), Traced::Failed(e) if e.contains("no Service"))
        );
    }

    #[test]
    fn unexposed_port_is_said() {
        let (loaded, _) = load(crate::examples::STARTER, &FormSettings::default());
        let form = TraceForm {
            port: "81".into(),
            ..Default::default()
        };
        let Traced::Done(_, r, warn) = trace(&loaded, &form, "default") else {
            panic!("traced")
        };
        assert!(r.outcome.is_empty());
        assert_eq!(
            warn.as_deref(),
            Some(
                "destination 10.96.0.20 is an address of Service default/web (clusterIP), but port 81/tcp is not exposed; its ports: 80/tcp"
            )
        );
        let form = TraceForm::default();
        assert!(matches!(
            trace(&loaded, &form, "default"),
            Traced::Done(_, _, None)
        ));
    }

    #[test]
    fn a_services_paths() {
        let (loaded, _) = load(crate::examples::STARTER, &FormSettings::default());
        let paths = service_paths(&loaded, "default/web", "10.244.3.9".parse().unwrap());
        assert_eq!(paths.len(), 1);
        let (t, shares) = &paths[0];
        assert_eq!(
            t.label(),
            "default/web — 10.96.0.20:80 (http)/tcp (clusterIP)"
        );
        let got: Vec<(String, f64)> = shares
            .iter()
            .map(|e| (e.endpoint.clone(), e.probability))
            .collect();
        assert_eq!(
            got,
            vec![
                ("10.244.1.5:8080".to_string(), 0.5),
                ("10.244.2.7:8080".to_string(), 0.5)
            ]
        );
    }

    #[test]
    fn kubectl_views() {
        let (loaded, _) = load(crate::examples::STARTER, &FormSettings::default());
        let (svc, _) = view(&loaded, View::GetSvc, "");
        assert!(svc.starts_with("NAMESPACE"), "{svc}");
        let (d, json) = view(&loaded, View::Describe, "default/web");
        assert!(d.starts_with("Name:"), "{d}");
        assert!(json.contains("\"web\""));
        let (missing, _) = view(&loaded, View::Describe, "default/nope");
        assert!(missing.contains("NotFound"));
    }
}
