//! The playground's user interface (yew): the manifest editor (CodeMirror,
//! see [`crate::editor`]), the examples gallery with drafts kept, the
//! settings form, one ARIA tab per output (proxy modes, kubectl views,
//! settings, diagnostics), the trace panel with its path diagram, share
//! links and copy buttons.
//!
//! Updates are computed by [`crate::compute`]; this module only shows them.
//! Timings (first render after load, keystroke → output) are written to the
//! `#perf` element's data attributes and the console, for people and for
//! the browser test.

use crate::compute::{self, Diag, Output, Outputs, Traced, View};
use crate::node::{self, NodeForm};
use crate::settings::FormSettings;
use crate::share::{self, State, TraceForm};
use gloo_timers::callback::Timeout;
use libsvc::Severity;
use libsvc::dump::trace::DumpTrace;
use libsvc::render::Mode;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use web_sys::{HtmlElement, HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

/// Updates faster than this (ms) run on every keystroke; slower ones wait
/// a moment, so that keystrokes arriving together share one update.
const FAST_MS: f64 = 100.0;

/// An output tab: every mode libsvc knows, the kubectl views, then the
/// effective settings and the diagnostics. New modes appear by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// A mode's rendered output.
    Mode(Mode),
    /// A kubectl view.
    View(View),
    /// A node's real rules: traced and checked against the manifests.
    Node,
    /// The effective settings (YAML).
    Settings,
    /// Every diagnostic.
    Diagnostics,
}

impl Tab {
    /// Every tab, in order.
    pub fn all() -> Vec<Tab> {
        let mut v: Vec<Tab> = Mode::ALL.into_iter().map(Tab::Mode).collect();
        v.extend(
            [
                View::GetSvc,
                View::GetEndpoints,
                View::GetSlices,
                View::GetPods,
                View::Describe,
            ]
            .map(Tab::View),
        );
        v.extend([Tab::Node, Tab::Settings, Tab::Diagnostics]);
        v
    }

    /// The tab's name in ids and share links.
    pub fn id(&self) -> &'static str {
        match self {
            Tab::Mode(m) => m.name(),
            Tab::View(View::GetSvc) => "get-svc",
            Tab::View(View::GetEndpoints) => "get-endpoints",
            Tab::View(View::GetSlices) => "get-endpointslices",
            Tab::View(View::GetPods) => "get-pods",
            Tab::View(View::Describe) => "describe",
            Tab::Node => "node-rules",
            Tab::Settings => "settings",
            Tab::Diagnostics => "diagnostics",
        }
    }

    /// Reads [`Tab::id`] (`table`, of older links, is `get svc` now).
    pub fn parse(s: &str) -> Option<Tab> {
        if s == "table" {
            return Some(Tab::View(View::GetSvc));
        }
        Tab::all().into_iter().find(|t| t.id() == s)
    }

    fn label(&self) -> &'static str {
        match self {
            Tab::Mode(Mode::Resolv) => "resolv.conf",
            Tab::Mode(m) => m.name(),
            Tab::View(View::GetSvc) => "get svc",
            Tab::View(View::GetEndpoints) => "get endpoints",
            Tab::View(View::GetSlices) => "get endpointslices",
            Tab::View(View::GetPods) => "get pods",
            Tab::View(View::Describe) => "describe",
            Tab::Node => "node rules",
            Tab::Settings => "settings (yaml)",
            Tab::Diagnostics => "diagnostics",
        }
    }

    /// What the output panel's title says.
    fn title(&self, describe: &str) -> String {
        match self {
            Tab::View(View::GetSvc) => "kubectl get svc -A".into(),
            Tab::View(View::GetEndpoints) => "kubectl get endpoints -A".into(),
            Tab::View(View::GetSlices) => "kubectl get endpointslices -A".into(),
            Tab::View(View::GetPods) => "kubectl get pods -A -o wide".into(),
            Tab::View(View::Describe) => {
                let (ns, name) = describe.split_once('/').unwrap_or(("default", describe));
                format!("kubectl describe service {name} -n {ns}")
            }
            t => t.label().into(),
        }
    }
}

/// A trace through the node's rules, or why there is none.
type NodeTraced = Result<(libsvc::trace::Packet, DumpTrace), String>;

/// A settings form field: where its text lives.
type Field = fn(&mut FormSettings) -> &mut String;
/// A trace form field.
type TraceField = fn(&mut TraceForm) -> &mut String;

/// What the page does.
pub enum Msg {
    /// The editor's text changed (text, the edit's timestamp).
    Edit(String, f64),
    /// The caret moved (line, column).
    Cursor(u32, u32),
    /// The debounce ran out: recompute.
    Update,
    /// An example was picked (from the menu or the gallery).
    Example(usize),
    /// Put the text an example replaced back.
    Undo,
    /// Drop the draft of the open example: its own text again.
    Revert,
    /// A settings field changed.
    Setting(Field, String),
    /// The "iptables jumps" box changed.
    WithJumps(bool),
    /// A tab was picked (and whether to move the focus to it).
    Tab(Tab, bool),
    /// The Service `describe` shows.
    Describe(String),
    /// Show the output as text or as its JSON model.
    ShowJson(bool),
    /// Move the editor's cursor to a diagnostic (its index).
    Goto(usize),
    /// A trace field changed.
    TraceSet(TraceField, String),
    /// A Service address was picked for the trace (its key).
    TracePick(String),
    /// Run the trace.
    Trace,
    /// Show a traced step's rule in its output (the step's index).
    Step(usize),
    /// Copy a text; the key says which button shows "copied".
    Copy(String, &'static str),
    /// Copy the share link (the state as it is now).
    CopyLink,
    /// Clear the "copied" mark.
    Copied,
    /// Write the state into the URL fragment and keep the draft.
    Save,
    /// The person paused: render the outputs not shown yet (for their
    /// diagnostics and badges).
    Fill,
    /// The node rules text changed.
    NodeRules(String),
    /// The mode to check the node's rules as (empty: found from the dump).
    NodeMode(String),
    /// Put an example dump in: the render with one rule left out.
    NodeExample,
    /// Trace the trace form's packet through the node's rules.
    NodeTrace,
    /// Select a line:col of the node rules text.
    NodeGoto(u32, u32),
}

/// Timings of the page (milliseconds).
#[derive(Default)]
struct Perf {
    /// When the first keystroke of the pending update happened.
    keystroke_at: Option<f64>,
    /// When the running update started.
    update_at: Option<f64>,
    /// The last update's compute time (load + the visible output).
    compute_ms: f64,
    /// Of which loading the input (libsvc::load: parse + load_parsed).
    load_ms: f64,
    /// Where the last update's time went.
    timings: compute::Timings,
}

/// Where the editor's text comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// An example (index into [`crate::examples::all`]), maybe edited.
    Example(usize),
    /// A share link.
    Link,
}

/// The playground.
pub struct App {
    manifests: String,
    settings: FormSettings,
    tab: Tab,
    trace_form: TraceForm,
    /// The newest update.
    outputs: Rc<Outputs>,
    /// What was read from each YAML document, kept across keystrokes.
    reader: compute::Reader,
    /// The newest update whose input could be read: shown while the
    /// manifests do not parse, so a half-typed line does not blank the page.
    shown: Rc<Outputs>,
    traced: Option<Traced>,
    /// The node rules panel's form.
    node_form: NodeForm,
    /// The node's rules read and checked, for the manifests shown: made
    /// when the panel is shown, dropped on every change.
    node: RefCell<Option<Rc<node::Node>>>,
    /// The last trace through the node's rules (kept in step with edits).
    /// Made when shown, dropped on every change of the manifests, the
    /// rules or the trace form.
    node_traced: RefCell<Option<Rc<NodeTraced>>>,
    /// The person asked for a trace through the node's rules.
    node_trace_on: bool,
    /// Why the example dump could not be made.
    node_error: Option<String>,
    node_text: NodeRef,
    show_json: bool,
    source: Source,
    /// Examples with a kept draft (their names).
    modified: HashSet<&'static str>,
    /// What the last example pick replaced: (source, text).
    undo: Option<(Source, String)>,
    /// The next URL write makes a history entry (the page came from a
    /// link, or an example replaced the text): Back returns to it.
    push_history: bool,
    describe: String,
    /// The trace form's Service address, when picked from the list (its
    /// [`compute::Target::key`]); `Some("")`: the first Service address of
    /// whatever the manifests hold (a fresh page, a new example). `None`:
    /// the person typed the address; it stays as typed.
    trace_pick: Option<String>,
    /// A step to scroll to and mark after the next render.
    focus_step: Option<usize>,
    /// Focus the active tab after the next render (arrow keys).
    focus_tab: bool,
    share_error: Option<String>,
    copied: Option<&'static str>,
    pending: Option<Timeout>,
    copied_timer: Option<Timeout>,
    save_timer: Option<Timeout>,
    fill_timer: Option<Timeout>,
    perf: Perf,
    editor_host: NodeRef,
    perf_el: NodeRef,
    cursor_el: NodeRef,
}

fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

fn log(s: &str) {
    web_sys::console::log_1(&s.into());
}

/// The share link's fragment, from the page's URL.
fn fragment_state() -> Option<Result<State, String>> {
    let hash = web_sys::window()?.location().hash().ok()?;
    let enc = hash.strip_prefix("#s=")?;
    Some(share::decode(enc))
}

fn example_name(i: usize) -> &'static str {
    crate::examples::all()
        .get(i)
        .map(|e| e.0)
        .unwrap_or("starter")
}

fn example_text(i: usize) -> &'static str {
    crate::examples::all()
        .get(i)
        .map(|e| e.1)
        .unwrap_or(crate::examples::STARTER)
}

impl App {
    fn state(&self) -> State {
        State {
            manifests: self.manifests.clone(),
            settings: self.settings.clone(),
            tab: self.tab.id().to_string(),
            trace: self.trace_form.clone(),
            node: self.node_form.clone(),
        }
    }

    /// Writes the state into the URL fragment: a new history entry when
    /// the text was replaced (so Back returns to the link that was there),
    /// else in place.
    fn save_fragment(&mut self) {
        let url = format!("#s={}", share::encode(&self.state()));
        if let Some(h) = web_sys::window().and_then(|w| w.history().ok()) {
            let null = wasm_bindgen::JsValue::NULL;
            let _ = if std::mem::take(&mut self.push_history) {
                h.push_state_with_url(&null, "", Some(&url))
            } else {
                h.replace_state_with_url(&null, "", Some(&url))
            };
        }
    }

    /// Keeps the open example's draft (or forgets it when it is unedited),
    /// and the node rules.
    fn save_draft(&mut self) {
        crate::drafts::set_rules(&self.node_form);
        if let Source::Example(i) = self.source {
            let name = example_name(i);
            crate::drafts::put(name, &self.manifests, example_text(i));
            crate::drafts::set_current(name);
            if self.manifests == example_text(i) {
                self.modified.remove(name);
            } else {
                self.modified.insert(name);
            }
        }
    }

    fn namespace(&self) -> String {
        match self.settings.namespace.trim() {
            "" => "default".into(),
            ns => ns.into(),
        }
    }

    fn recompute(&mut self) {
        let t0 = now();
        let before = self.trace_target_key();
        let out = Rc::new(compute::update(
            &mut self.reader,
            &self.manifests,
            &self.settings,
            &now,
        ));
        self.perf.load_ms = now() - t0;
        self.perf.timings = out.timings.clone();
        if !out.loaded.has_parse_errors() {
            self.shown = out.clone();
        }
        // The visible output is rendered now; the others when shown or
        // after a pause (Msg::Fill).
        if let Tab::Mode(m) = self.tab {
            self.shown.get(m);
        }
        self.perf.compute_ms = now() - t0;
        self.perf.update_at = Some(t0);
        crate::editor::set_diagnostics(&out.diagnostics());
        self.outputs = out;
        self.follow_trace_target(before);
        if self.traced.is_some() {
            self.traced = Some(compute::trace(
                &self.shown.loaded,
                &self.trace_form,
                &self.namespace(),
            ));
        }
        self.node_changed();
    }

    /// The node's rules read and checked against the manifests shown.
    fn node(&self) -> Rc<node::Node> {
        self.node
            .borrow_mut()
            .get_or_insert_with(|| Rc::new(node::check(&self.shown.loaded, &self.node_form)))
            .clone()
    }

    /// The manifests or the node's rules changed: check (and trace, if
    /// asked for) again when the tab is shown.
    fn node_changed(&mut self) {
        self.node.replace(None);
        self.node_traced.replace(None);
    }

    /// The trace form's packet through the node's rules, once asked for.
    fn node_traced(&self) -> Option<Rc<NodeTraced>> {
        if !self.node_trace_on {
            return None;
        }
        let node = self.node();
        Some(
            self.node_traced
                .borrow_mut()
                .get_or_insert_with(|| {
                    Rc::new(node::trace(
                        &self.shown.loaded,
                        &node,
                        &self.trace_form,
                        &self.namespace(),
                    ))
                })
                .clone(),
        )
    }

    /// The key of the Service address the trace form points at, if any.
    fn trace_target_key(&self) -> Option<String> {
        let targets = compute::targets(&self.shown.loaded);
        let f = &self.trace_form;
        targets
            .iter()
            .find(|t| {
                t.ip.to_string() == f.dst.trim()
                    && (t.port.to_string() == f.port.trim() || t.port_name == f.port.trim())
                    && t.protocol.lower() == f.proto.trim()
            })
            .map(|t| t.key())
    }

    /// Keeps the trace form in step with the manifests: a picked Service
    /// address follows its Service; a form that points at no Service
    /// (another example) gets the first Service address.
    fn follow_trace_target(&mut self, before: Option<String>) {
        let targets = compute::targets(&self.shown.loaded);
        if self.trace_target_key().is_some() {
            return;
        }
        let key = before.or_else(|| self.trace_pick.clone());
        let pick = key
            .and_then(|k| targets.iter().find(|t| t.key() == k))
            .or_else(|| {
                // Only a form that pointed at a Service follows; a typed
                // address stays as typed.
                (self.trace_pick.is_some())
                    .then(|| targets.first())
                    .flatten()
            });
        if let Some(t) = pick {
            self.set_trace_target(t.clone());
        }
    }

    fn set_trace_target(&mut self, t: compute::Target) {
        self.trace_form.dst = t.ip.to_string();
        self.trace_form.port = t.port.to_string();
        self.trace_form.proto = t.protocol.lower().to_string();
        self.trace_pick = Some(t.key());
    }

    /// Saves the fragment and the draft a little after the last change:
    /// browsers throttle `history.replaceState`, and typing should not pay for it.
    fn save_later(&mut self, ctx: &Context<Self>) {
        let link = ctx.link().clone();
        self.save_timer = Some(Timeout::new(300, move || link.send_message(Msg::Save)));
        let link = ctx.link().clone();
        self.fill_timer = Some(Timeout::new(250, move || link.send_message(Msg::Fill)));
    }

    /// Updates now while updates are fast (every keystroke shows at once);
    /// debounces when they are slow, so typing never queues up work.
    /// Returns whether the view must render.
    fn schedule(&mut self, ctx: &Context<Self>) -> bool {
        if self.perf.compute_ms < FAST_MS && self.pending.is_none() {
            self.recompute();
            self.save_later(ctx);
            return true;
        }
        // A short pause only gathers keystrokes that arrive together.
        let delay = 25;
        let link = ctx.link().clone();
        self.pending = Some(Timeout::new(delay, move || link.send_message(Msg::Update)));
        // Render once to show "updating".
        true
    }

    /// Replaces the editor's text with another source's.
    fn replace_text(&mut self, source: Source, text: String) {
        self.source = source;
        self.manifests = text;
        crate::editor::set_text(&self.manifests);
        self.recompute();
        self.push_history = true;
        self.save_fragment();
        if let Source::Example(i) = source {
            crate::drafts::set_current(example_name(i));
        }
    }
}

impl Component for App {
    type Message = Msg;
    type Properties = ();

    fn create(_ctx: &Context<Self>) -> Self {
        let all = crate::examples::all();
        let modified: HashSet<&'static str> = all
            .iter()
            .filter(|(n, t)| crate::drafts::get(n).is_some_and(|d| d != *t))
            .map(|(n, _)| *n)
            .collect();
        let (state, share_error) = match fragment_state() {
            Some(Ok(s)) => (Some(s), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        let from_link = state
            .as_ref()
            .is_some_and(|s| !(s.manifests.is_empty() && s.tab.is_empty()));
        let state = state.unwrap_or_default();
        // No link: the example open last, with its draft.
        let (source, manifests) = if from_link {
            (Source::Link, state.manifests.clone())
        } else {
            let i = crate::drafts::current()
                .and_then(|n| all.iter().position(|(name, _)| *name == n))
                .unwrap_or(0);
            let text = crate::drafts::get(all[i].0).unwrap_or_else(|| all[i].1.to_string());
            (Source::Example(i), text)
        };
        let t0 = now();
        let mut reader = compute::Reader::default();
        let outputs = Rc::new(compute::update(
            &mut reader,
            &manifests,
            &state.settings,
            &now,
        ));
        let compute_ms = now() - t0;
        let mut app = App {
            manifests,
            settings: state.settings,
            tab: Tab::parse(&state.tab).unwrap_or(Tab::Mode(Mode::Iptables)),
            trace_form: if from_link {
                state.trace
            } else {
                TraceForm::default()
            },
            shown: outputs.clone(),
            outputs,
            reader,
            traced: None,
            node_form: if from_link {
                state.node
            } else {
                crate::drafts::rules().unwrap_or_default()
            },
            node: RefCell::new(None),
            node_traced: RefCell::new(None),
            node_trace_on: false,
            node_error: None,
            node_text: NodeRef::default(),
            show_json: false,
            source,
            modified,
            undo: None,
            push_history: from_link,
            describe: String::new(),
            trace_pick: None,
            focus_step: None,
            focus_tab: false,
            share_error,
            copied: None,
            pending: None,
            copied_timer: None,
            save_timer: None,
            fill_timer: None,
            perf: Perf {
                update_at: Some(t0),
                compute_ms,
                ..Perf::default()
            },
            editor_host: NodeRef::default(),
            perf_el: NodeRef::default(),
            cursor_el: NodeRef::default(),
        };
        if !from_link {
            // A fresh page points the trace at the first Service.
            app.trace_pick = Some(String::new());
            app.follow_trace_target(None);
        }
        app
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Edit(text, at) => {
                self.manifests = text;
                self.perf.keystroke_at.get_or_insert(at);
                self.schedule(ctx)
            }
            Msg::Cursor(line, col) => {
                if let Some(el) = self.cursor_el.cast::<HtmlElement>() {
                    el.set_text_content(Some(&format!("Ln {line}, Col {col}")));
                }
                false
            }
            Msg::Update => {
                self.pending = None;
                self.recompute();
                self.save_later(ctx);
                true
            }
            Msg::Fill => {
                self.fill_timer = None;
                if !self.outputs.pending() && !self.shown.pending() {
                    return false;
                }
                // One output at a time, the page free in between: a
                // keystroke that comes meanwhile waits for one render at
                // most, and stops the rest (a new update).
                let mut more = self.outputs.fill_one();
                if !Rc::ptr_eq(&self.outputs, &self.shown) {
                    more |= self.shown.fill_one();
                }
                if more {
                    let link = ctx.link().clone();
                    self.fill_timer = Some(Timeout::new(0, move || link.send_message(Msg::Fill)));
                    return false;
                }
                crate::editor::set_diagnostics(&self.outputs.diagnostics());
                true
            }
            Msg::Save => {
                self.save_timer = None;
                self.save_fragment();
                self.save_draft();
                true
            }
            Msg::Example(i) => {
                if crate::examples::all().get(i).is_none() || self.source == Source::Example(i) {
                    return false;
                }
                // Nothing typed is lost: the draft of the example being
                // left is kept, and Undo brings the replaced text back.
                self.save_draft();
                let edited = match self.source {
                    Source::Example(j) => self.manifests != example_text(j),
                    Source::Link => true,
                };
                self.undo = edited.then(|| (self.source, self.manifests.clone()));
                let name = example_name(i);
                let text = crate::drafts::get(name).unwrap_or_else(|| example_text(i).to_string());
                self.traced = None;
                self.replace_text(Source::Example(i), text);
                self.trace_pick = Some(String::new());
                self.follow_trace_target(None);
                true
            }
            Msg::Undo => {
                if let Some((source, text)) = self.undo.take() {
                    self.save_draft();
                    self.replace_text(source, text);
                    self.save_draft();
                }
                true
            }
            Msg::Revert => {
                if let Source::Example(i) = self.source {
                    self.undo = Some((self.source, self.manifests.clone()));
                    self.replace_text(self.source, example_text(i).to_string());
                    self.save_draft();
                }
                true
            }
            Msg::Setting(field, value) => {
                *field(&mut self.settings) = value;
                self.schedule(ctx)
            }
            Msg::WithJumps(v) => {
                self.settings.with_jumps = v;
                self.recompute();
                self.save_fragment();
                true
            }
            Msg::Tab(t, focus) => {
                self.tab = t;
                self.focus_tab = focus;
                self.save_later(ctx);
                true
            }
            Msg::Describe(s) => {
                self.describe = s;
                true
            }
            Msg::ShowJson(v) => {
                self.show_json = v;
                true
            }
            Msg::Goto(i) => {
                if let Some(o) = self.outputs.diagnostics().get(i).and_then(|d| d.offset) {
                    crate::editor::goto(o);
                }
                false
            }
            Msg::TraceSet(field, value) => {
                *field(&mut self.trace_form) = value;
                self.node_traced.replace(None);
                self.trace_pick = None;
                self.save_later(ctx);
                true
            }
            Msg::TracePick(key) => {
                if let Some(t) = compute::targets(&self.shown.loaded)
                    .into_iter()
                    .find(|t| t.key() == key)
                {
                    self.set_trace_target(t);
                    self.node_traced.replace(None);
                }
                self.save_later(ctx);
                true
            }
            Msg::Trace => {
                self.traced = Some(compute::trace(
                    &self.shown.loaded,
                    &self.trace_form,
                    &self.namespace(),
                ));
                self.save_fragment();
                true
            }
            Msg::Step(i) => {
                if let Some(m) = Mode::parse(&self.trace_form.mode) {
                    self.tab = Tab::Mode(m);
                }
                self.show_json = false;
                self.focus_step = Some(i);
                true
            }
            Msg::Copy(text, key) => {
                if let Some(w) = web_sys::window() {
                    // A refused write (no permission, no secure context) is
                    // not an error of the page: swallow the rejection.
                    let refused =
                        wasm_bindgen::closure::Closure::<dyn FnMut(wasm_bindgen::JsValue)>::new(
                            |_: wasm_bindgen::JsValue| {},
                        );
                    let _ = w.navigator().clipboard().write_text(&text).catch(&refused);
                    refused.forget();
                }
                self.copied = Some(key);
                let link = ctx.link().clone();
                self.copied_timer =
                    Some(Timeout::new(1500, move || link.send_message(Msg::Copied)));
                true
            }
            Msg::CopyLink => {
                self.save_fragment();
                let href = web_sys::window()
                    .and_then(|w| w.location().href().ok())
                    .unwrap_or_default();
                Component::update(self, ctx, Msg::Copy(href, "link"))
            }
            Msg::Copied => {
                self.copied = None;
                true
            }
            Msg::NodeRules(text) => {
                self.node_form.rules = text;
                self.node_error = None;
                self.node_changed();
                self.save_later(ctx);
                true
            }
            Msg::NodeMode(m) => {
                self.node_form.mode = m;
                self.node_changed();
                self.save_later(ctx);
                true
            }
            Msg::NodeExample => {
                let (found, _) = node::mode(&self.node_form, &self.node().dump);
                let mode =
                    if self.node_form.mode.is_empty() && self.node_form.rules.trim().is_empty() {
                        Mode::Iptables
                    } else {
                        found
                    };
                match node::example(&self.shown.loaded, mode) {
                    Ok(text) => {
                        self.node_form.rules = text;
                        self.node_error = None;
                        self.node_changed();
                        self.save_later(ctx);
                    }
                    Err(e) => self.node_error = Some(e),
                }
                true
            }
            Msg::NodeTrace => {
                self.node_trace_on = true;
                self.node_traced.replace(None);
                self.save_later(ctx);
                true
            }
            Msg::NodeGoto(line, column) => {
                if let Some(el) = self.node_text.cast::<web_sys::HtmlTextAreaElement>() {
                    let at = crate::text::utf16_offset(&self.node_form.rules, line, column);
                    let _ = el.focus();
                    let _ = el.set_selection_range(at, at);
                }
                false
            }
        }
    }

    fn rendered(&mut self, ctx: &Context<Self>, first_render: bool) {
        if first_render {
            if let Some(host) = self.editor_host.cast::<web_sys::Element>() {
                let link = ctx.link();
                crate::editor::mount(
                    &host,
                    &self.manifests,
                    link.callback(|(t, at): (String, f64)| Msg::Edit(t, at)),
                    link.callback(|(l, c): (u32, u32)| Msg::Cursor(l, c)),
                );
                crate::editor::set_diagnostics(&self.outputs.diagnostics());
            }
            self.save_later(ctx);
        }
        let document = web_sys::window().and_then(|w| w.document());
        let tab = document
            .as_ref()
            .and_then(|d| d.get_element_by_id(&format!("tab-{}", self.tab.id())))
            .and_then(|e| wasm_bindgen::JsCast::dyn_into::<HtmlElement>(e).ok());
        if let (true, Some(el)) = (std::mem::take(&mut self.focus_tab), tab) {
            let _ = el.focus();
        }
        if let Some(i) = self.focus_step.take() {
            let sel = format!("#output [data-step=\"{i}\"]");
            if let Some(el) = document
                .as_ref()
                .and_then(|d| d.query_selector(&sel).ok().flatten())
            {
                let opts = web_sys::ScrollIntoViewOptions::new();
                opts.set_block(web_sys::ScrollLogicalPosition::Center);
                el.scroll_into_view_with_scroll_into_view_options(&opts);
                let _ = el.set_attribute("class", "hit focus");
            }
        }
        if self.pending.is_some() {
            return;
        }
        let Some(started) = self.perf.update_at.take() else {
            return;
        };
        let done = now();
        let Some(el) = self.perf_el.cast::<HtmlElement>() else {
            return;
        };
        let set = |k: &str, v: String| {
            let _ = el.set_attribute(k, &v);
        };
        let compute_ms = self.perf.compute_ms;
        let update_ms = done - started;
        set("data-compute-ms", format!("{compute_ms:.2}"));
        set("data-load-ms", format!("{:.2}", self.perf.load_ms));
        let t = &self.perf.timings;
        set("data-parse-ms", format!("{:.2}", t.parse));
        set("data-load-parsed-ms", format!("{:.2}", t.load));
        set("data-reparsed", format!("{}/{}", t.reparsed, t.documents));
        set("data-update-ms", format!("{update_ms:.2}"));
        let updates = el
            .get_attribute("data-updates")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        set("data-updates", (updates + 1).to_string());
        let mut shown = format!("updated in {update_ms:.1} ms");
        if first_render {
            set("data-first-render-ms", format!("{done:.1}"));
            log(&format!(
                "svcgen: first render {done:.1} ms after navigation start (compute {compute_ms:.2} ms)"
            ));
            shown = format!("first render {done:.0} ms after load");
        }
        if let Some(k) = self.perf.keystroke_at.take() {
            let key_ms = done - k;
            set("data-keystroke-ms", format!("{key_ms:.2}"));
            log(&format!(
                "svcgen: keystroke -> output {key_ms:.2} ms (compute {compute_ms:.2} ms, update {update_ms:.2} ms)"
            ));
            shown = format!("keystroke → output {key_ms:.1} ms");
        }
        el.set_text_content(Some(&shown));
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let tabs = Tab::all();
        let keys = {
            let tabs = tabs.clone();
            let current = self.tab;
            link.batch_callback(move |e: KeyboardEvent| {
                let i = tabs.iter().position(|t| *t == current).unwrap_or(0);
                let n = tabs.len();
                let to = match e.key().as_str() {
                    "ArrowRight" | "ArrowDown" => (i + 1) % n,
                    "ArrowLeft" | "ArrowUp" => (i + n - 1) % n,
                    "Home" => 0,
                    "End" => n - 1,
                    _ => return None,
                };
                e.prevent_default();
                Some(Msg::Tab(tabs[to], true))
            })
        };
        html! {
            <div class="page">
                { self.view_header(ctx) }
                if let Some(e) = &self.share_error {
                    <div class="banner error" role="alert">{ format!("The share link could not be read ({e}); showing the starter.") }</div>
                }
                if let Some((source, _)) = &self.undo {
                    <div id="undo-banner" class="banner info" role="status">
                        { format!("Your edits to {} were replaced; they are kept. ", match source {
                            Source::Example(i) => format!("the {} example", example_name(*i)),
                            Source::Link => "the shared manifests".to_string(),
                        }) }
                        <button id="undo" class="btn small" onclick={link.callback(|_| Msg::Undo)}>{"Undo"}</button>
                    </div>
                }
                <main class="columns">
                    <section class="left">
                        { self.view_editor(ctx) }
                        { self.view_problems(ctx, "problems", 8) }
                        { self.view_settings(ctx) }
                    </section>
                    <section class="right">
                        <div class="tabs" role="tablist" aria-label="Outputs" onkeydown={keys}>
                            { for tabs.iter().copied().map(|t| {
                                let active = t == self.tab;
                                html! {
                                    <button id={format!("tab-{}", t.id())} role="tab"
                                        class={classes!("tab", active.then_some("active"))}
                                        aria-selected={active.to_string()} aria-controls="tabpanel"
                                        tabindex={if active { "0" } else { "-1" }}
                                        onclick={link.callback(move |_| Msg::Tab(t, false))}>
                                        { t.label() }{ self.badge(t) }
                                    </button>
                                }
                            }) }
                        </div>
                        <div id="tabpanel" role="tabpanel" aria-labelledby={format!("tab-{}", self.tab.id())}>
                            { self.view_banner(ctx) }
                            { self.view_output(ctx) }
                        </div>
                        { self.view_trace(ctx) }
                    </section>
                </main>
            </div>
        }
    }
}

impl App {
    fn view_header(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let examples = crate::examples::all();
        let on_example = link.callback(|e: Event| {
            let s: HtmlSelectElement = e.target_unchecked_into();
            Msg::Example(s.value().parse().unwrap_or(0))
        });
        let share = link.callback(|_| Msg::CopyLink);
        let current = match self.source {
            Source::Example(i) => Some(i),
            Source::Link => None,
        };
        let mark = |name: &str| {
            if self.modified.contains(name) {
                " (modified)"
            } else {
                ""
            }
        };
        let updating = self.pending.is_some();
        html! {
            <header class="top">
                <div class="line">
                    <h1>{"svcgen "}<span class="sub">{"playground"}</span></h1>
                    <p id="about" class="about">
                        {"svcgen renders what "}<b>{"Kubernetes v1.37"}</b>{" does with your Services — environment variables, DNS, kube-proxy's iptables, nftables and IPVS rules, kubectl views — from manifests alone, here in your browser. "}
                        <a href="README.txt">{"Documentation (the README)"}</a>
                    </p>
                </div>
                <div class="line">
                    <label class="examples">{"Example "}
                        <select id="examples" onchange={on_example}>
                            if current.is_none() {
                                <option value="" selected=true>{"(from a share link)"}</option>
                            }
                            { for examples.iter().enumerate().map(|(i, (name, _))| html! {
                                <option value={i.to_string()} selected={Some(i) == current}>{ format!("{name}{}", mark(name)) }</option>
                            }) }
                        </select>
                    </label>
                    if current.is_some_and(|i| self.modified.contains(example_name(i))) {
                        <button id="revert" class="btn small" onclick={link.callback(|_| Msg::Revert)}>{"Revert to the example"}</button>
                    }
                    <button id="share" class="btn" onclick={share}>
                        { if self.copied == Some("link") { "Link copied" } else { "Copy share link" } }
                    </button>
                    <span class="spacer"></span>
                    if updating { <span id="updating" class="updating" role="status">{"updating…"}</span> }
                    <span id="perf" class="perf" ref={self.perf_el.clone()}></span>
                </div>
                <details id="gallery" class="gallery">
                    <summary>{"What each example shows"}</summary>
                    <ul>
                        { for examples.iter().enumerate().map(|(i, (name, _))| html! {
                            <li>
                                <button class="link" id={format!("example-{name}")} onclick={link.callback(move |_| Msg::Example(i))}>{ *name }</button>
                                if !mark(name).is_empty() { <span class="modified">{"(modified)"}</span> }
                                {" — "}{ crate::examples::describe(name) }
                            </li>
                        }) }
                    </ul>
                </details>
            </header>
        }
    }

    fn view_editor(&self, _ctx: &Context<Self>) -> Html {
        html! {
            <div class="panel editor-panel">
                <div class="panel-head">
                    <span class="title" id="editor-title">{"Manifests"}</span>
                    <span class="hint">{"YAML or JSON; Node and KubeProxyConfiguration objects set the node and proxy. Tab indents; Esc then Tab leaves."}</span>
                    <span class="spacer"></span>
                    <span id="cursor" class="cursor" ref={self.cursor_el.clone()}>{"Ln 1, Col 1"}</span>
                </div>
                <div id="editor" class="editor" ref={self.editor_host.clone()}></div>
            </div>
        }
    }

    /// Input Kubernetes would refuse: said above every output, with the
    /// first error and how many more.
    fn view_banner(&self, ctx: &Context<Self>) -> Html {
        let diags = self.outputs.diagnostics();
        let errors: Vec<(usize, &Diag)> = diags
            .iter()
            .enumerate()
            .filter(|(_, d)| d.severity == Severity::Error)
            .collect();
        let Some((i, first)) = errors.first().copied() else {
            return html! {};
        };
        let place = match (first.line, first.column) {
            (Some(l), Some(c)) => format!("{l}:{c}: "),
            _ => String::new(),
        };
        let more = match errors.len() - 1 {
            0 => String::new(),
            1 => " (and 1 more error)".into(),
            n => format!(" (and {n} more errors)"),
        };
        let what = if self.outputs.loaded.has_parse_errors() {
            "The manifests cannot be read; the outputs show the last input that could be."
        } else {
            "Kubernetes would refuse this input; what cannot be programmed is left out, as the CLI does."
        };
        html! {
            <div id="input-errors" class="banner error" role="alert">
                <b>{ what }</b>{" "}
                <button class="link" onclick={ctx.link().callback(move |_| Msg::Goto(i))}>{ format!("{place}{}", first.message) }</button>
                { more }
            </div>
        }
    }

    fn view_problems(&self, ctx: &Context<Self>, id: &'static str, limit: usize) -> Html {
        let link = ctx.link();
        let diags = &self.outputs.diagnostics();
        let count = |s: Severity| diags.iter().filter(|d| d.severity == s).count();
        let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
        let summary = if diags.is_empty() {
            "No problems".to_string()
        } else {
            format!(
                "{errors} error(s), {warnings} warning(s), {} note(s)",
                diags.len() - errors - warnings
            )
        };
        html! {
            <div class="panel problems" id={id}>
                <div class="panel-head"><span class="title">{ summary }</span>
                    if self.outputs.loaded.has_parse_errors() {
                        <span class="hint stale">{"outputs show the last input that could be read"}</span>
                    }
                </div>
                <ul class="diags" tabindex="0" aria-label="Problems">
                    { for diags.iter().enumerate().take(limit).map(|(i, d)| {
                        let loc = match (d.line, d.column) {
                            (Some(l), Some(c)) => html! {
                                <button class="loc" title="Move the cursor here"
                                    onclick={link.callback(move |_| Msg::Goto(i))}>{ format!("{l}:{c}") }</button>
                            },
                            _ => html! { <span class="loc none">{ d.source.clone() }</span> },
                        };
                        html! {
                            <li class={classes!("diag", d.severity.to_string())}>
                                { loc }
                                <span class="sev">{ d.severity.to_string() }</span>
                                <span class="msg">{ d.message.clone() }</span>
                                if let Some(o) = &d.object { <span class="obj">{ o.clone() }</span> }
                            </li>
                        }
                    }) }
                    if diags.len() > limit {
                        <li class="more"><button class="link" onclick={link.callback(|_| Msg::Tab(Tab::Diagnostics, false))}>
                            { format!("… {} more in the diagnostics tab", diags.len() - limit) }</button></li>
                    }
                </ul>
            </div>
        }
    }

    fn view_settings(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let eff = &self.shown.loaded.settings;
        let field = |label: &'static str,
                     id: &'static str,
                     f: Field,
                     value: &str,
                     placeholder: String| {
            let oninput = link.callback(move |e: InputEvent| {
                let i: HtmlInputElement = e.target_unchecked_into();
                Msg::Setting(f, i.value())
            });
            html! {
                <label class="field"><span>{ label }</span>
                    <input id={format!("set-{id}")} type="text" spellcheck="false" value={value.to_string()}
                        {placeholder} {oninput} />
                </label>
            }
        };
        let join = |v: Vec<String>| v.join(", ");
        let s = &self.settings;
        let on_family = link.callback(|e: Event| {
            let s: HtmlSelectElement = e.target_unchecked_into();
            Msg::Setting(|f| &mut f.ip_family, s.value())
        });
        let on_version = link.callback(|e: Event| {
            let s: HtmlSelectElement = e.target_unchecked_into();
            Msg::Setting(|f| &mut f.kube_version, s.value())
        });
        let on_jumps = link.callback(|e: Event| {
            let i: HtmlInputElement = e.target_unchecked_into();
            Msg::WithJumps(i.checked())
        });
        html! {
            <details class="panel settings" open=true>
                <summary class="panel-head"><span class="title">{"Node, proxy and cluster settings"}</span>
                    <span class="hint">{"empty: from the manifests, else Kubernetes' default"}</span></summary>
                <div class="grid">
                    { field("Node name", "nodeName", |f| &mut f.node_name, &s.node_name, eff.node.name.clone()) }
                    { field("Node IPs", "nodeIPs", |f| &mut f.node_ips, &s.node_ips,
                        join(eff.node.ips.iter().map(|i| i.to_string()).collect())) }
                    { field("clusterCIDR (pods)", "clusterCIDR", |f| &mut f.cluster_cidr, &s.cluster_cidr,
                        join(eff.proxy.cluster_cidrs.iter().map(|i| i.to_string()).collect())) }
                    { field("Service CIDR", "serviceCIDR", |f| &mut f.service_cidr, &s.service_cidr,
                        join(eff.cluster.service_cidrs.iter().map(|i| i.to_string()).collect())) }
                    { field("Cluster domain", "clusterDomain", |f| &mut f.cluster_domain, &s.cluster_domain,
                        eff.cluster.cluster_domain.clone()) }
                    { field("IPVS scheduler", "ipvsScheduler", |f| &mut f.ipvs_scheduler, &s.ipvs_scheduler,
                        if eff.proxy.ipvs_scheduler.is_empty() { "rr".to_string() } else { eff.proxy.ipvs_scheduler.clone() }) }
                    { field("Pod namespace (env, resolv.conf)", "namespace", |f| &mut f.namespace, &s.namespace,
                        "default".to_string()) }
                    <label class="field"><span>{"IP family"}</span>
                        <select id="set-ipFamily" onchange={on_family}>
                            { for [("", "both (dual-stack)"), ("IPv4", "IPv4"), ("IPv6", "IPv6")].into_iter().map(|(v, l)| html! {
                                <option value={v} selected={s.ip_family == v}>{ l }</option>
                            }) }
                        </select>
                    </label>
                    <label class="field"><span>{"kube-proxy release"}</span>
                        <select id="set-kubeVersion" onchange={on_version}>
                            { for [("", "1.37 (reference)"), ("1.36", "1.36"), ("1.35", "1.35"), ("1.34", "1.34"), ("1.33", "1.33")].into_iter().map(|(v, l)| html! {
                                <option value={v} selected={s.kube_version == v}>{ l }</option>
                            }) }
                        </select>
                    </label>
                    <label class="field check"><input id="set-withJumps" type="checkbox" checked={s.with_jumps} onchange={on_jumps} />
                        <span>{"iptables: jumps from the built-in chains"}</span></label>
                </div>
            </details>
        }
    }

    fn badge(&self, t: Tab) -> Html {
        match t {
            Tab::Mode(m) => self.shown.peek(m, |o| match o {
                Output::NotImplemented => html! { <span class="badge na">{"n/a"}</span> },
                Output::Invalid(_) => html! { <span class="badge warning">{"!"}</span> },
                _ => html! {},
            }),
            Tab::Diagnostics => {
                let e = self.outputs.count(Severity::Error);
                let w = self.outputs.count(Severity::Warning);
                match (e, w) {
                    (0, 0) => html! {},
                    (0, w) => html! { <span class="badge warning">{ w }</span> },
                    (e, _) => html! { <span class="badge error">{ e }</span> },
                }
            }
            _ => html! {},
        }
    }

    /// The steps (chain, rule text) of the last trace, when it went
    /// through `mode`.
    fn hits(&self, mode: Mode) -> Vec<(&str, &str)> {
        match &self.traced {
            Some(Traced::Done(_, r, _)) if Mode::parse(&self.trace_form.mode) == Some(mode) => r
                .path
                .iter()
                .map(|s| (s.chain.as_str(), s.rule.trim()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The Service `describe` shows: the picked one, else the first.
    fn described(&self) -> String {
        let services = &self.shown.loaded.table.services;
        if services
            .iter()
            .any(|s| format!("{}/{}", s.namespace, s.name) == self.describe)
        {
            return self.describe.clone();
        }
        services
            .first()
            .map(|s| format!("{}/{}", s.namespace, s.name))
            .unwrap_or_default()
    }

    fn view_output(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let describe = self.described();
        let (text, json, note): (Option<String>, Option<String>, Option<String>) = match self.tab {
            Tab::Mode(m) => match self.shown.get(m) {
                Output::Rendered(r) => (
                    Some(r.text),
                    // The JSON model is rendered only when asked for.
                    Some(if self.show_json {
                        self.shown.json(m).unwrap_or_default()
                    } else {
                        String::new()
                    }),
                    None,
                ),
                Output::NotImplemented => (
                    None,
                    None,
                    Some(format!(
                        "The {} output is not available yet in this build of svcgen.",
                        m.name()
                    )),
                ),
                Output::Invalid(e) => (None, None, Some(e)),
                Output::Blocked | Output::Pending => (
                    None,
                    None,
                    Some("The manifests have errors; fix them to see this output.".into()),
                ),
            },
            Tab::View(v) => {
                let (t, j) = compute::view(&self.shown.loaded, v, &describe);
                (Some(t), Some(j), None)
            }
            Tab::Settings => (Some(self.shown.settings.clone()), None, None),
            Tab::Node => return self.view_node(ctx),
            Tab::Diagnostics => return self.view_problems(ctx, "diagnostics-list", usize::MAX),
        };
        let shows_json = self.show_json && json.is_some();
        let body = if shows_json { json.clone() } else { text };
        let hits = match self.tab {
            Tab::Mode(m) if !shows_json => self.hits(m),
            _ => Vec::new(),
        };
        let copy = body.clone().unwrap_or_default();
        let on_describe = link.callback(|e: Event| {
            let s: HtmlSelectElement = e.target_unchecked_into();
            Msg::Describe(s.value())
        });
        html! {
            <div class="panel output-panel">
                <div class="panel-head">
                    <span class="title">{ self.tab.title(&describe) }</span>
                    if self.tab == Tab::View(View::Describe) {
                        <label class="inline">{"Service "}
                            <select id="describe-service" onchange={on_describe}>
                                { for self.shown.loaded.table.services.iter().map(|s| {
                                    let key = format!("{}/{}", s.namespace, s.name);
                                    html! { <option value={key.clone()} selected={key == describe}>{ key.clone() }</option> }
                                }) }
                            </select>
                        </label>
                    }
                    if json.is_some() {
                        <span class="toggle" role="group" aria-label="Show as">
                            <button id="view-text" class={classes!("btn", "small", (!shows_json).then_some("on"))}
                                aria-pressed={(!shows_json).to_string()}
                                onclick={link.callback(|_| Msg::ShowJson(false))}>{"text"}</button>
                            <button id="view-json" class={classes!("btn", "small", shows_json.then_some("on"))}
                                aria-pressed={shows_json.to_string()}
                                onclick={link.callback(|_| Msg::ShowJson(true))}>{"JSON"}</button>
                        </span>
                    }
                    <span class="spacer"></span>
                    if body.is_some() {
                        <button id="copy-output" class="btn small" onclick={link.callback(move |_| Msg::Copy(copy.clone(), "output"))}>
                            { if self.copied == Some("output") { "Copied" } else { "Copy" } }
                        </button>
                    }
                </div>
                if let Some(n) = note {
                    <div id="output-note" class="note">{ n }</div>
                }
                if let Some(b) = body {
                    <pre id="output" class="output" tabindex="0" aria-label={self.tab.title(&describe)}>{ highlight(&b, &hits) }</pre>
                }
                if self.tab == Tab::View(View::Describe) && !shows_json {
                    { self.service_diagram(&describe) }
                }
            </div>
        }
    }

    /// The node rules panel: a pasted dump, its problems at line:col, the
    /// check against the manifests, and the trace form's packet traced
    /// through it.
    fn view_node(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let node = self.node();
        let (mode, found) = node.mode;
        let oninput = link.callback(|e: InputEvent| {
            let t: web_sys::HtmlTextAreaElement = e.target_unchecked_into();
            Msg::NodeRules(t.value())
        });
        let on_mode = link.callback(|e: Event| {
            let s: HtmlSelectElement = e.target_unchecked_into();
            Msg::NodeMode(s.value())
        });
        let auto = if found && !self.node_form.rules.trim().is_empty() {
            format!("found from the dump: {}", mode.name())
        } else {
            "found from the dump".to_string()
        };
        let check = match &node.check {
            None if self.node_form.rules.trim().is_empty() => html! {
                <p class="hint">{"Paste what a node has — iptables-save, ip6tables-save, nft list ruleset (text or -j), ipset save, ipvsadm-save -n, one after another — or take the example dump. Its kube-proxy part is checked against the manifests (as svcgen check), and the trace form's packet can be sent through all of it (as svcgen trace --rules)."}</p>
            },
            None => html! {},
            Some(Err(e)) => html! { <p id="node-check" class="note error">{ e.clone() }</p> },
            Some(Ok(r)) => {
                let (class, head) = if r.in_sync {
                    (
                        "in-sync",
                        format!(
                            "In sync: kube-proxy's {} rules on this node are what the manifests give.",
                            mode.name()
                        ),
                    )
                } else {
                    (
                        "drift",
                        format!(
                            "Drift: {} difference(s) between the node's kube-proxy {} rules and the manifests.",
                            r.differences.len(),
                            mode.name()
                        ),
                    )
                };
                html! {
                    <div id="node-check" class={classes!("node-check", class)} data-in-sync={r.in_sync.to_string()}>
                        <p role="status"><b>{ head }</b></p>
                        <pre id="node-check-report" class="output" tabindex="0" aria-label="svcgen check">{ r.text() }</pre>
                    </div>
                }
            }
        };
        let f = &self.trace_form;
        let traced = self.node_traced();
        let traced = match traced.as_deref() {
            None => html! {},
            Some(Err(e)) => {
                html! { <p id="node-trace-result" class="note error">{ e.clone() }</p> }
            }
            Some(Ok((p, t))) => {
                let verdict = if t.result.outcome.is_empty() {
                    "passes unchanged".to_string()
                } else {
                    t.result.outcome.clone()
                };
                html! {
                    <div id="node-trace-result" class="trace-result">
                        <p>{"verdict: "}<b id="node-trace-verdict">{ verdict }</b>
                            {" · masquerade: "}<b>{ if t.result.masquerade { "yes" } else { "no" } }</b>
                            if !t.branches.is_empty() { { format!(" · {} branch(es) on unknown matches", t.branches.len()) } }</p>
                        if !t.result.endpoints.is_empty() {
                            <table class="endpoints"><tr><th>{"endpoint"}</th><th>{"share"}</th></tr>
                                { for t.result.endpoints.iter().map(|e| html! {
                                    <tr><td>{ e.endpoint.clone() }</td><td>{ format!("{:.1} %", e.probability * 100.0) }</td></tr>
                                }) }
                            </table>
                        }
                        <pre id="node-trace-report" class="output" tabindex="0" aria-label="svcgen trace --rules">{ libsvc::dump::trace::report(p, t) }</pre>
                    </div>
                }
            }
        };
        html! {
            <div class="panel output-panel node-panel">
                <div class="panel-head">
                    <span class="title">{"A node's rules"}</span>
                    <label class="inline">{"Check as "}
                        <select id="node-mode" onchange={on_mode}>
                            <option value="" selected={self.node_form.mode.is_empty()}>{ auto }</option>
                            { for node::PROXIES.iter().map(|m| html! {
                                <option value={m.name()} selected={self.node_form.mode == m.name()}>{ m.name() }</option>
                            }) }
                        </select>
                    </label>
                    <span class="spacer"></span>
                    <button id="node-example" class="btn small" onclick={link.callback(|_| Msg::NodeExample)}
                        title="What kube-proxy programs for these manifests, with one rule left out">{"Example dump (one rule left out)"}</button>
                </div>
                <textarea id="node-rules" class="node-rules" ref={self.node_text.clone()} spellcheck="false" rows="12"
                    aria-label="The node's rules (dumps)" placeholder="Paste iptables-save, nft list ruleset, ipset save or ipvsadm-save -n output"
                    value={self.node_form.rules.clone()} {oninput} />
                if let Some(e) = &self.node_error {
                    <p class="note error">{ e.clone() }</p>
                }
                if !node.diagnostics.is_empty() {
                    <ul id="node-diags" class="diags" tabindex="0" aria-label="Problems of the node's rules">
                        { for node.diagnostics.iter().take(50).map(|d| {
                            let (l, c) = (d.line, d.column);
                            html! {
                                <li class={classes!("diag", d.severity.to_string())}>
                                    <button class="loc" title="Move the cursor here" onclick={link.callback(move |_| Msg::NodeGoto(l, c))}>{ format!("{l}:{c}") }</button>
                                    <span class="sev">{ d.severity.to_string() }</span>
                                    <span class="msg">{ d.message.clone() }</span>
                                </li>
                            }
                        }) }
                    </ul>
                }
                { check }
                <div class="node-trace">
                    <button id="node-trace-run" class="btn primary" onclick={link.callback(|_| Msg::NodeTrace)}>
                        { format!("Trace {} {} → {}:{} through these rules", f.proto, f.src, f.dst, f.port) }</button>
                    <span class="hint">{" The packet of the trace form below; the node's IPs from the settings are local."}</span>
                </div>
                { traced }
            </div>
        }
    }

    /// A Service's addresses and ports, each to its endpoints with their
    /// shares (as a new connection from the trace form's source finds them).
    fn service_diagram(&self, service: &str) -> Html {
        let src = self
            .trace_form
            .src
            .trim()
            .parse()
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 244, 3, 9)));
        let paths = compute::service_paths(&self.shown.loaded, service, src);
        if paths.is_empty() {
            return html! { <p id="service-diagram" class="hint">{"No address to send a packet to (headless or ExternalName): DNS answers for this Service, no proxy rules."}</p> };
        }
        const W: i32 = 700;
        const ROW: i32 = 30;
        let mut rows: Vec<Html> = Vec::new();
        let mut y = 8;
        for (t, shares) in &paths {
            let n = shares.len().max(1) as i32;
            let block = n * ROW;
            let mid = y + block / 2 - 12;
            rows.push(html! {
                <g class="address">
                    <rect x="10" y={mid.to_string()} width="300" height="24" rx="5" />
                    <text x="18" y={(mid + 16).to_string()} class="chain">{ format!("{} {}", t.kind, std::net::SocketAddr::new(t.ip, t.port)) }</text>
                </g>
            });
            if shares.is_empty() {
                rows.push(html! { <text x="330" y={(mid + 16).to_string()} class="rule">{"no endpoint: REJECT or DROP"}</text> });
            }
            for (k, e) in shares.iter().enumerate() {
                let ey = y + k as i32 * ROW;
                rows.push(html! {
                    <g class="endpoint">
                        <path class="edge" d={format!("M 310 {} C 360 {}, 400 {}, {} {}", mid + 12, mid + 12, ey + 12, W - 230, ey + 12)} />
                        <rect x={(W - 230).to_string()} y={ey.to_string()} width="220" height="24" rx="5" />
                        <text x={(W - 222).to_string()} y={(ey + 16).to_string()} class="chain">{ e.endpoint.clone() }</text>
                        <text x={(W - 70).to_string()} y={(ey + 16).to_string()} class="share">{ format!("{:.1} %", e.probability * 100.0) }</text>
                    </g>
                });
            }
            y += block + 10;
        }
        html! {
            <figure class="diagram">
                <svg id="service-diagram" viewBox={format!("0 0 {W} {y}")} width={W.to_string()} height={y.to_string()}
                    role="img" aria-label={format!("Service {service}: each address and port to its endpoints, with their shares")}>
                    { for rows }
                </svg>
                <figcaption class="hint">{ format!("Where a new connection from {src} to each address and port of {service} goes (iptables rules).") }</figcaption>
            </figure>
        }
    }

    fn view_trace(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let f = &self.trace_form;
        let input = |label: &'static str,
                     id: &'static str,
                     get: TraceField,
                     value: &str,
                     size: u32| {
            let oninput = link.callback(move |e: InputEvent| {
                let i: HtmlInputElement = e.target_unchecked_into();
                Msg::TraceSet(get, i.value())
            });
            html! {
                <label class="field"><span>{ label }</span>
                    <input id={format!("trace-{id}")} type="text" spellcheck="false" size={size.to_string()}
                        value={value.to_string()} {oninput} /></label>
            }
        };
        let select = |label: &'static str,
                      id: &'static str,
                      get: TraceField,
                      value: &str,
                      options: Vec<&'static str>| {
            let onchange = link.callback(move |e: Event| {
                let s: HtmlSelectElement = e.target_unchecked_into();
                Msg::TraceSet(get, s.value())
            });
            html! {
                <label class="field"><span>{ label }</span>
                    <select id={format!("trace-{id}")} {onchange}>
                        { for options.into_iter().map(|o| html! { <option value={o} selected={o == value}>{ o }</option> }) }
                    </select></label>
            }
        };
        let onsubmit = link.callback(|e: SubmitEvent| {
            e.prevent_default();
            Msg::Trace
        });
        let targets = compute::targets(&self.shown.loaded);
        let current = self.trace_target_key().unwrap_or_default();
        let on_pick = link.callback(|e: Event| {
            let s: HtmlSelectElement = e.target_unchecked_into();
            Msg::TracePick(s.value())
        });
        let result = match &self.traced {
            None => {
                html! { <p class="hint">{"Send the first packet of a new connection through the rules. The destination may be a Service's DNS name (web, web.default, web.default.svc.cluster.local) and the port a port's name."}</p> }
            }
            Some(Traced::NotImplemented(m)) => html! {
                <p id="trace-result" class="note" data-mode={m.name()}>{ format!("Tracing {} is not available yet in this build of svcgen.", m.name()) }</p>
            },
            Some(Traced::Failed(e)) => {
                html! { <p id="trace-result" class="note error">{ e.clone() }</p> }
            }
            Some(Traced::Done(p, r, warn)) => {
                let verdict = if r.outcome.is_empty() {
                    "passes unchanged".to_string()
                } else {
                    r.outcome.clone()
                };
                html! {
                    <div id="trace-result" class="trace-result" data-mode={f.mode.clone()}>
                        <p><b>{ format!("{} {} → {}", p.protocol.lower(), p.src, std::net::SocketAddr::new(p.dst, p.port)) }</b></p>
                        if let Some(w) = warn {
                            <p id="trace-warning" class="warning" role="alert">{ w.clone() }</p>
                        }
                        <p>{"verdict: "}<b id="trace-verdict">{ verdict }</b>
                           {" · masquerade: "}<b id="trace-masq">{ if r.masquerade { "yes" } else { "no" } }</b></p>
                        { diagram(ctx, &f.mode, p, r) }
                        if !r.endpoints.is_empty() {
                            <table class="endpoints"><tr><th>{"endpoint"}</th><th>{"share"}</th></tr>
                                { for r.endpoints.iter().map(|e| html! {
                                    <tr><td>{ e.endpoint.clone() }</td><td>{ format!("{:.1} %", e.probability * 100.0) }</td></tr>
                                }) }
                            </table>
                        }
                        <ol class="path">
                            { for r.path.iter().enumerate().map(|(i, s)| html! {
                                <li><button class="link" title="Show in the output"
                                    onclick={link.callback(move |_| Msg::Step(i))}>
                                    { format!("{}/{}", s.table, s.chain) }</button>{": "}<code>{ s.rule.clone() }</code></li>
                            }) }
                        </ol>
                        { for r.notes.iter().map(|n| html! { <p class="hint">{ n.clone() }</p> }) }
                    </div>
                }
            }
        };
        html! {
            <div class="panel trace">
                <div class="panel-head"><span class="title">{"Trace a packet"}</span></div>
                <form class="trace-form" {onsubmit}>
                    <label class="field wide"><span>{"Service address"}</span>
                        <select id="trace-service" onchange={on_pick}>
                            <option value="" selected={current.is_empty()}>{"(typed below)"}</option>
                            { for targets.iter().map(|t| {
                                let k = t.key();
                                html! { <option value={k.clone()} selected={k == current}>{ t.label() }</option> }
                            }) }
                        </select>
                    </label>
                    { select("Mode", "mode", |t| &mut t.mode, &f.mode, vec!["iptables", "nftables", "ipvs"]) }
                    { input("Source", "src", |t| &mut t.src, &f.src, 14) }
                    { input("Destination (IP or DNS name)", "dst", |t| &mut t.dst, &f.dst, 22) }
                    { input("Port (number or name)", "port", |t| &mut t.port, &f.port, 6) }
                    { select("Protocol", "proto", |t| &mut t.proto, &f.proto, vec!["tcp", "udp", "sctp"]) }
                    <button id="trace-run" class="btn primary" type="submit">{"Trace"}</button>
                </form>
                { result }
            </div>
        }
    }
}

/// Where the packet's path branches to the endpoints: the Service's chain
/// (iptables KUBE-SVC-/KUBE-SVL-, nftables service-), or the IPVS virtual
/// server. The tracer lists the branch chain's rule for every endpoint it
/// tries; the picture shows one branch point.
fn is_branch(s: &libsvc::trace::Step) -> bool {
    s.table == "ipvs"
        || ["KUBE-SVC-", "KUBE-SVL-", "service-"]
            .iter()
            .any(|p| s.chain.starts_with(p))
}

/// An endpoint's own chain (iptables KUBE-SEP-, nftables endpoint-): the DNAT.
fn is_endpoint_chain(s: &libsvc::trace::Step) -> bool {
    s.chain.starts_with("KUBE-SEP-") || s.chain.starts_with("endpoint-")
}

/// A clickable box of the diagram: a step, shown in the output on click.
fn step_box(
    ctx: &Context<App>,
    i: usize,
    class: &'static str,
    (x, y, w, h): (i32, i32, i32, i32),
    title: String,
    lines: [String; 2],
) -> Html {
    let onclick = ctx.link().callback(move |_| Msg::Step(i));
    let onkeydown = ctx.link().batch_callback(move |e: KeyboardEvent| {
        matches!(e.key().as_str(), "Enter" | " ").then(|| {
            e.prevent_default();
            Msg::Step(i)
        })
    });
    let [a, b] = lines;
    html! {
        <g class={classes!("step", class)} data-step={i.to_string()} tabindex="0" role="button" {onclick} {onkeydown}>
            <title>{ title }</title>
            <rect x={x.to_string()} y={y.to_string()} width={w.to_string()} height={h.to_string()} rx="5" />
            <text x={(x + 8).to_string()} y={(y + 14).to_string()} class="chain">{ a }</text>
            <text x={(x + 8).to_string()} y={(y + 28).to_string()} class="rule">{ b }</text>
        </g>
    }
}

/// The packet's path as a picture (SVG): the client, the rules it went
/// through (click one to see it in the output), one branch point (the
/// Service's chain or IPVS virtual server) and from it one arrow per
/// endpoint with its share, to the endpoint's DNAT rule.
fn diagram(
    ctx: &Context<App>,
    mode: &str,
    p: &libsvc::trace::Packet,
    r: &libsvc::trace::TraceResult,
) -> Html {
    const W: i32 = 700;
    const BOX_W: i32 = 360;
    const H: i32 = 34;
    const GAP: i32 = 14;
    const EP_W: i32 = 220;
    let clip = |s: &str, n: usize| {
        if s.chars().count() > n {
            format!("{}…", s.chars().take(n - 1).collect::<String>())
        } else {
            s.to_string()
        }
    };
    let branch = r.path.iter().position(is_branch);
    // The main column: every step but the endpoints' own chains and the
    // branch chain's later rules (they are the other branches).
    let main: Vec<usize> = (0..r.path.len())
        .filter(|&i| {
            let s = &r.path[i];
            let later_branch =
                is_branch(s) && branch.is_some_and(|b| b != i && r.path[b].chain == s.chain);
            !(is_endpoint_chain(s) || later_branch)
        })
        .collect();
    let y = |row: usize| 6 + row as i32 * (H + GAP);
    let rows = main.len() + 1;
    let ep_h = 40;
    let eps = r.endpoints.len() as i32;
    let height = (y(rows) - GAP).max(eps * (ep_h + 10) + 16) + 6;
    let mut boxes: Vec<Html> = Vec::new();
    let mut branch_y = None;
    for (row, &i) in main.iter().enumerate() {
        let s = &r.path[i];
        let top = y(row + 1);
        if Some(i) == branch {
            branch_y = Some(top + H / 2);
        }
        boxes.push(html! { <line class="edge" x1="190" y1={(top - GAP).to_string()} x2="190" y2={top.to_string()} /> });
        boxes.push(step_box(
            ctx,
            i,
            if Some(i) == branch { "branch" } else { "" },
            (10, top, BOX_W, H),
            format!("{}/{}: {}", s.table, s.chain, s.rule),
            [
                clip(&format!("{}/{}", s.table, s.chain), 48),
                clip(&s.rule, 52),
            ],
        ));
    }
    let from = branch_y.unwrap_or(y(rows - 1) + H / 2);
    let ends = r.endpoints.iter().enumerate().map(|(k, e)| {
        let top = 10 + k as i32 * (ep_h + 10);
        let share = format!("{:.1} %", e.probability * 100.0);
        let mid = top + ep_h / 2;
        let x = W - EP_W - 10;
        // The endpoint's DNAT rule, when the path shows it.
        let dnat = r
            .path
            .iter()
            .position(|s| is_endpoint_chain(s) && s.rule.contains(&e.endpoint));
        let edge = html! {
            <path class="edge" d={format!("M {} {from} C {} {from}, {} {mid}, {x} {mid}", 10 + BOX_W, 10 + BOX_W + 60, x - 60)} />
        };
        let label = [clip(&e.endpoint, 30), format!("share {share}")];
        let body = match dnat {
            Some(i) => step_box(
                ctx,
                i,
                "endpoint",
                (x, top, EP_W, ep_h),
                format!("{}: {share} of new connections; {}/{}: {}", e.endpoint, r.path[i].table, r.path[i].chain, r.path[i].rule),
                label,
            ),
            None => {
                let [a, b] = label;
                html! {
                    <g class="endpoint">
                        <rect x={x.to_string()} y={top.to_string()} width={EP_W.to_string()} height={ep_h.to_string()} rx="5" />
                        <text x={(x + 8).to_string()} y={(top + 15).to_string()} class="chain">{ a }</text>
                        <text x={(x + 8).to_string()} y={(top + 31).to_string()} class="share">{ b }</text>
                    </g>
                }
            }
        };
        html! { <>{ edge }{ body }</> }
    });
    html! {
        <figure class="diagram">
            <svg id="trace-diagram" viewBox={format!("0 0 {W} {height}")} width={W.to_string()} height={height.to_string()}
                role="group" aria-label={format!("The packet's path through {mode}; each step is a button that shows its rule")}>
                <g class="client">
                    <rect x="10" y={y(0).to_string()} width={BOX_W.to_string()} height={H.to_string()} rx="5" />
                    <text x="18" y={(y(0) + 14).to_string()} class="chain">{ format!("client {}", p.src) }</text>
                    <text x="18" y={(y(0) + 28).to_string()} class="rule">{ format!("{} → {}", p.protocol.lower(), std::net::SocketAddr::new(p.dst, p.port)) }</text>
                </g>
                { for boxes }
                { for ends }
            </svg>
            <figcaption class="hint">{ if r.endpoints.is_empty() {
                "No endpoint: the packet is not sent to a Service backend.".to_string()
            } else {
                format!("A new connection takes one branch at the highlighted step: one of {} endpoint(s), with these shares. Click a step to see its rule.", r.endpoints.len())
            } }</figcaption>
        </figure>
    }
}

/// The output text, with the lines a trace matched marked (`data-step`:
/// the step's index, for the diagram's links): the rule itself, or a line
/// holding both the rule and its chain's name (`nft -f` lines name the
/// chain before the rule). Unmarked runs of lines stay one text node, so
/// large outputs stay cheap.
fn highlight(body: &str, hits: &[(&str, &str)]) -> Html {
    let mut parts: Vec<Html> = Vec::new();
    if hits.is_empty() {
        blocks(body, &mut parts);
        return parts.into_iter().collect::<Html>();
    }
    let lines: Vec<&str> = body.split_inclusive('\n').collect();
    // Each step marks the first line after the previous step's line that
    // matches it (a rule text may repeat in other chains).
    let mut step_of: HashMap<usize, usize> = HashMap::new();
    for (i, (chain, rule)) in hits.iter().enumerate() {
        if rule.is_empty() {
            continue;
        }
        let matches = |l: &str| l.trim() == *rule || (l.contains(rule) && l.contains(chain));
        let found = lines
            .iter()
            .enumerate()
            .find(|(n, l)| !step_of.contains_key(n) && matches(l))
            .map(|(n, _)| n);
        if let Some(n) = found {
            step_of.insert(n, i);
        }
    }
    let mut run = String::new();
    for (n, line) in lines.iter().enumerate() {
        if let Some(i) = step_of.get(&n) {
            blocks(&std::mem::take(&mut run), &mut parts);
            // A block of its own: the highlight spans the line, and the
            // newline it replaces is implied.
            let shown = line.strip_suffix('\n').unwrap_or(line);
            parts.push(
                html! { <span class="hit" data-step={i.to_string()}>{ shown.to_string() }</span> },
            );
        } else {
            run.push_str(line);
        }
    }
    blocks(&run, &mut parts);
    parts.into_iter().collect::<Html>()
}

/// Lines per block of an output.
const BLOCK_LINES: usize = 100;

/// Unmarked lines of an output as blocks of [`BLOCK_LINES`] lines: the
/// browser lays out only the blocks on screen (`content-visibility: auto`,
/// each block's height given in lines so that scrolling stays exact), and
/// a keystroke's diff replaces only the blocks whose text changed. Each
/// block keeps its last newline, so the text (and a copy of it) is the
/// output's.
fn blocks(run: &str, parts: &mut Vec<Html>) {
    let mut lines = 0;
    let mut start = 0;
    for (at, _) in run.match_indices('\n') {
        lines += 1;
        if lines == BLOCK_LINES {
            parts.push(block(&run[start..=at], lines));
            (start, lines) = (at + 1, 0);
        }
    }
    if start < run.len() {
        parts.push(block(
            &run[start..],
            lines + usize::from(!run.ends_with('\n')),
        ));
    }
}

fn block(text: &str, lines: usize) -> Html {
    html! {
        <span class="block" style={format!("contain-intrinsic-block-size: calc({lines} * 1.45em)")}>{ text.to_string() }</span>
    }
}
